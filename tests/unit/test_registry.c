/* Unit tests of agent/registry on real BPF hash maps (root): a name is a
 * label (two registrations may carry one; it evicts nobody), who may remove
 * which registration, and the lifetime record kept beside each one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/registry.h"

static struct mc_registry reg;
static int pods_fd = -1, ips_fd = -1, life_fd = -1;
static char msg[320];

static int setup(void **state)
{
	(void)state;
	pods_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_pods", 8, sizeof(struct mc_pod), 64, NULL);
	ips_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_pod_ips", sizeof(struct mc_addr), 8, 64, NULL);
	life_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_pod_life", 8, sizeof(struct mc_pod_life), 64,
				 NULL);
	if (pods_fd < 0 || ips_fd < 0 || life_fd < 0)
		return -1;
	mc_registry_init(&reg, &(struct mc_registry_maps){.pods = pods_fd, .ips = ips_fd,
							  .life = life_fd, .pod_pairs = -1});
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(pods_fd);
	close(ips_fd);
	close(life_fd);
	return 0;
}

static struct mc_registration reg_of(const char *name, const char *ip4)
{
	struct mc_registration r;

	memset(&r, 0, sizeof(r));
	snprintf(r.namespace, sizeof(r.namespace), "default");
	snprintf(r.name, sizeof(r.name), "%s", name);
	r.ip4.w[2] = htonl(0xffff);
	inet_pton(AF_INET, ip4, &r.ip4.w[3]);
	return r;
}

static int add(const char *name, const char *ip4, uint64_t netns, int nsid)
{
	struct mc_registration r = reg_of(name, ip4);

	return mc_registry_add(&reg, &r, netns, nsid, NULL, msg, sizeof(msg));
}

static bool has(uint64_t netns)
{
	struct mc_pod p;

	return bpf_map_lookup_elem(pods_fd, &netns, &p) == 0;
}

static bool has_life(uint64_t netns, struct mc_pod_life *l)
{
	return bpf_map_lookup_elem(life_fd, &netns, l) == 0;
}

static void test_name_is_a_label(void **state)
{
	struct mc_pod a, b;

	(void)state;
	assert_int_equal(add("web-0", "10.244.1.10", 100, 3), 201);
	assert_true(bpf_map_lookup_elem(pods_fd, &(uint64_t){100}, &a) == 0);
	/* another namespace claims the same name: both stand, the first untouched */
	assert_int_equal(add("web-0", "10.244.1.11", 200, 4), 201);
	assert_true(bpf_map_lookup_elem(pods_fd, &(uint64_t){100}, &b) == 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(has(200));
	assert_int_equal(mc_registry_count(&reg), 2);
	/* a namespace keeps its one name */
	assert_int_equal(add("web-1", "10.244.1.10", 100, 3), 409);
	assert_non_null(strstr(msg, "already registered as pod default/web-0"));
	/* an IP is one registration's: 409 names it */
	assert_int_equal(add("web-2", "10.244.1.10", 300, 5), 409);
	assert_string_equal(msg, "ips: 10.244.1.10 is registered to pod default/web-0 (netns 100)");
	/* refresh: idempotent */
	assert_int_equal(add("web-0", "10.244.1.10", 100, 3), 200);
}

static void test_pod_removes_only_its_own(void **state)
{
	struct mc_pod removed;

	(void)state;
	assert_int_equal(add("web-0", "10.244.1.10", 100, 3), 201);
	assert_int_equal(add("web-0", "10.244.1.11", 200, 4), 201);
	assert_int_equal(add("other", "10.244.1.12", 300, 5), 201);
	/* another's name: 403; a name nobody carries: 404 */
	assert_int_equal(mc_registry_remove(&reg, "default/other", 200, 0, NULL, msg, sizeof(msg)), 403);
	assert_int_equal(mc_registry_remove(&reg, "default/nope", 200, 0, NULL, msg, sizeof(msg)), 404);
	/* a pod cannot name another namespace */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 200, 100, NULL, msg, sizeof(msg)), 403);
	/* its own, by the name both carry: only its own goes */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 200, 0, &removed, msg, sizeof(msg)), 200);
	assert_string_equal(msg, "deregistered pod default/web-0 (netns 200)");
	assert_int_equal(removed.netns_cookie, 200);
	assert_false(has(200));
	assert_true(has(100));
	assert_true(has(300));
	/* its IP and lifetime went with it; the other's stayed */
	{
		struct mc_registration r = reg_of("x", "10.244.1.11");
		uint64_t owner;

		assert_int_equal(mc_registry_ip_owner(&reg, &r.ip4, &owner), -ENOENT);
		r = reg_of("x", "10.244.1.10");
		assert_int_equal(mc_registry_ip_owner(&reg, &r.ip4, &owner), 0);
		assert_int_equal(owner, 100);
	}
	assert_false(has_life(200, &(struct mc_pod_life){0}));
	assert_true(has_life(100, &(struct mc_pod_life){0}));
	/* and again: 403 now (the name is another's) */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 200, 0, NULL, msg, sizeof(msg)), 403);
}

static void test_admin_removes_unambiguously(void **state)
{
	(void)state;
	assert_int_equal(add("web-0", "10.244.1.10", 100, 3), 201);
	assert_int_equal(add("web-0", "10.244.1.11", 200, 4), 201);
	assert_int_equal(add("solo", "10.244.1.12", 300, 5), 201);
	/* two carry the name: nothing goes, both named */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 0, 0, NULL, msg, sizeof(msg)), 409);
	assert_non_null(strstr(msg, "2 registrations carry the name default/web-0"));
	assert_non_null(strstr(msg, "?netns=COOKIE"));
	assert_true(strstr(msg, "100 and 200") || strstr(msg, "200 and 100"));
	assert_true(has(100) && has(200));
	/* with the namespace: that one */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 0, 200, NULL, msg, sizeof(msg)), 200);
	assert_false(has(200));
	assert_true(has(100));
	/* a namespace that does not carry the name: 404 */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 0, 300, NULL, msg, sizeof(msg)), 404);
	/* unambiguous now: by name alone */
	assert_int_equal(mc_registry_remove(&reg, "default/web-0", 0, 0, NULL, msg, sizeof(msg)), 200);
	assert_false(has(100));
	assert_int_equal(mc_registry_remove(&reg, "default/solo", 0, 0, NULL, msg, sizeof(msg)), 200);
	assert_int_equal(mc_registry_count(&reg), 0);
}

static void test_lifetime(void **state)
{
	struct mc_pod_life l1, l2;
	struct mc_pod pod;
	bool with;

	(void)state;
	assert_int_equal(add("web-0", "10.244.1.10", 100, 7), 201);
	assert_true(has_life(100, &l1));
	assert_int_equal(l1.nsid, 7);
	assert_true(l1.registered_ns > 0);
	/* a refresh keeps when it registered */
	usleep(2000);
	assert_int_equal(add("web-0", "10.244.1.10", 100, 7), 200);
	assert_true(has_life(100, &l2));
	assert_int_equal(l2.registered_ns, l1.registered_ns);
	assert_int_equal(mc_registry_get(&reg, 100, &pod, &l2, &with), 0);
	assert_true(with);
	assert_int_equal(l2.nsid, 7);
	/* a registration without one (taken over from layout 2) */
	bpf_map_delete_elem(life_fd, &(uint64_t){100});
	assert_int_equal(mc_registry_get(&reg, 100, &pod, &l2, &with), 0);
	assert_false(with);
	/* remove_netns takes the entry, its IP and its lifetime */
	assert_int_equal(add("web-1", "10.244.1.11", 200, 8), 201);
	assert_int_equal(mc_registry_remove_netns(&reg, 200, &pod), 0);
	assert_false(has(200));
	assert_false(has_life(200, &l2));
	assert_int_equal(mc_registry_remove_netns(&reg, 200, &pod), -ENOENT);
}

static void test_list(void **state)
{
	json_t *all, *own, *none;

	(void)state;
	assert_int_equal(add("web-0", "10.244.1.10", 100, 7), 201);
	assert_int_equal(add("web-0", "10.244.1.11", 200, 8), 201);
	all = mc_registry_list(&reg, 0);
	own = mc_registry_list(&reg, 200);
	none = mc_registry_list(&reg, 999);
	assert_int_equal(json_array_size(all), 2);
	assert_int_equal(json_array_size(own), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(own, 0), "netns_cookie")), 200);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(own, 0), "nsid")), 8);
	assert_int_equal(json_array_size(none), 0);
	json_decref(all);
	json_decref(own);
	json_decref(none);
}

static void test_without_lifetimes(void **state)
{
	struct mc_registry r2;
	struct mc_registration r = reg_of("web-0", "10.244.1.10");
	json_t *l;

	(void)state;
	mc_registry_init(&r2, &(struct mc_registry_maps){.pods = pods_fd, .ips = ips_fd, .life = -1,
							  .pod_pairs = -1});
	assert_int_equal(mc_registry_add(&r2, &r, 100, 7, NULL, msg, sizeof(msg)), 201);
	assert_false(has_life(100, &(struct mc_pod_life){0}));
	l = mc_registry_list(&r2, 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "nsid")), -1);
	json_decref(l);
	assert_int_equal(mc_registry_remove(&r2, "default/web-0", 100, 0, NULL, msg, sizeof(msg)), 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_name_is_a_label, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pod_removes_only_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin_removes_unambiguously, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_without_lifetimes, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("# SKIP test_registry needs root (BPF maps)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
