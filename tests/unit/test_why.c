/* Unit tests of agent/api/why: the bounded table of refused registrations
 * (one entry per pod and namespace, the oldest gives way, newest first, a
 * registration forgets its refusals), the /v1/pods filter by name or IP, and
 * a pod's live pairs counted from the pair table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/why.h"
#include <linux/types.h>
#include "sock_shortcut.h"

static void test_refusals_bounded(void **state)
{
	struct mc_refusals *t = calloc(1, sizeof(*t));
	char key[64];
	json_t *j;

	(void)state;
	mc_refusals_init(t);
	for (int i = 0; i < MC_REFUSALS_MAX + 10; i++) {
		snprintf(key, sizeof(key), "default/p%d", i);
		mc_refusals_add(t, key, "10.0.0.1", NULL, 100 + (uint64_t)i, 403, "no\nnewline", i);
	}
	j = mc_refusals_json(t);
	assert_int_equal(json_array_size(j), MC_REFUSALS_MAX);
	/* newest first; the ten oldest gave way */
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "pod")),
			    "default/p73");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, MC_REFUSALS_MAX - 1), "pod")),
			    "default/p10");
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "reason")), "no");
	json_decref(j);
	free(t);
}

static void test_refusals_fold_and_forget(void **state)
{
	struct mc_refusals t;
	json_t *j, *e;

	(void)state;
	mc_refusals_init(&t);
	mc_refusals_add(&t, "ns/a", "10.0.0.1", "fd00::1", 7, 403, "first", 1);
	mc_refusals_add(&t, "ns/b", NULL, NULL, 8, 429, "rate", 2);
	mc_refusals_add(&t, "ns/a", NULL, NULL, 7, 409, "second", 3); /* the same pod again */
	mc_refusals_add(&t, NULL, NULL, NULL, 9, 400, "no name", 4);
	mc_refusals_add(&t, "ns/c", NULL, NULL, 8, 429, "rate", 5); /* another name, same netns */
	mc_refusals_add(&t, NULL, NULL, NULL, 8, 429, "rate", 6);   /* no name: keeps ns/c */
	j = mc_refusals_json(&t);
	assert_int_equal(json_array_size(j), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "pod")), "ns/c");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "count")), 3);
	e = json_array_get(j, 2);
	assert_string_equal(json_string_value(json_object_get(e, "pod")), "ns/a");
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
	assert_int_equal(json_integer_value(json_object_get(e, "status")), 409);
	assert_string_equal(json_string_value(json_object_get(e, "reason")), "second");
	assert_int_equal(json_array_size(json_object_get(e, "ips")), 2); /* kept from the first */
	assert_null(json_object_get(json_array_get(j, 1), "pod")); /* no name: none */
	json_decref(j);
	mc_refusals_forget(&t, "ns/a", 0);
	mc_refusals_forget(&t, NULL, 9);
	j = mc_refusals_json(&t);
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "pod")), "ns/c");
	json_decref(j);
}

static void test_filter(void **state)
{
	json_t *list = json_pack("[{s:s, s:[s, s]}, {s:s, s:[s]}]", "pod", "ns/a", "ips",
				 "10.0.0.1", "fd00::1", "pod", "ns/b", "ips", "10.0.0.2");
	char err[200];
	json_t *out;

	(void)state;
	out = mc_why_filter(json_incref(list), "ns/b", NULL, err, sizeof(err));
	assert_int_equal(json_array_size(out), 1);
	json_decref(out);
	out = mc_why_filter(json_incref(list), NULL, "fd00:0::1", err, sizeof(err));
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(out, 0), "pod")), "ns/a");
	json_decref(out);
	out = mc_why_filter(json_incref(list), "ns/c", NULL, err, sizeof(err));
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	assert_null(mc_why_filter(json_incref(list), NULL, "10.0.0.300", err, sizeof(err)));
	json_decref(list);
}

static long long cnt(json_t *o, const char *kind, const char *what)
{
	return json_integer_value(json_object_get(json_object_get(o, kind), what));
}

static void test_pairs(void **state)
{
	struct mc_pair p[6];
	json_t *o;

	(void)state;
	memset(p, 0, sizeof(p));
	p[0] = (struct mc_pair){.id = {.client_netns = 5, .kind = MC_KIND_OUTBOUND}, .refs = 2,
				.dir = {MC_DIR_REDIRECT, MC_DIR_REDIRECT}};
	p[1] = (struct mc_pair){.id = {.client_netns = 5, .kind = MC_KIND_INBOUND}, .refs = 2,
				.dir = {MC_DIR_TCP, MC_DIR_EARLY_TCP}};
	p[2] = (struct mc_pair){.id = {.client_netns = 5, .kind = MC_KIND_NODE}, .refs = 1};
	p[3] = (struct mc_pair){.id = {.client_netns = 6, .kind = MC_KIND_OUTBOUND}, .refs = 2};
	p[4] = (struct mc_pair){.id = {.client_netns = 5, .kind = MC_KIND_OUTBOUND}, .refs = 2,
				.flags = MC_PAIR_DELETED};
	p[5] = (struct mc_pair){.id = {.client_netns = 5, .kind = MC_KIND_OUTBOUND}, .refs = 0};
	o = mc_why_pairs(p, 6, 5);
	assert_int_equal(cnt(o, "outbound", "pairs"), 1);
	assert_int_equal(cnt(o, "outbound", "redirected"), 2);
	assert_int_equal(cnt(o, "inbound", "pairs"), 1);
	assert_int_equal(cnt(o, "inbound", "tcp"), 2);
	assert_int_equal(cnt(o, "node_local", "pairs"), 0);
	assert_int_equal(cnt(o, "node_local", "waiting"), 1);
	json_decref(o);
	o = mc_why_pairs(NULL, 0, 5); /* no datapath: zeros */
	assert_int_equal(cnt(o, "outbound", "pairs"), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals_bounded),
		cmocka_unit_test(test_refusals_fold_and_forget),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
