/* What `meshcut why` asks the agent: see why.h. */
#include "api/why.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "sock_shortcut.h"

void mc_refusals_init(struct mc_refusals *t)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
}

static void copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

void mc_refusals_add(struct mc_refusals *t, const char *key, const char *ip4, const char *ip6,
		     uint64_t netns, int status, const char *reason, time_t now)
{
	struct mc_refusal *e = NULL, *oldest = &t->e[0];
	char k[sizeof(e->key)];

	copy(k, sizeof(k), key);
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < MC_REFUSALS_MAX; i++) {
		struct mc_refusal *x = &t->e[i];

		/* the same namespace again: one entry, whatever name it gives (a pod
		 * that retries, or a hostile one that makes up names, fills no table) */
		if (x->seq && x->netns == netns && (netns || !strcmp(x->key, k))) {
			e = x;
			break;
		}
		if (x->seq < oldest->seq)
			oldest = x;
	}
	if (!e) {
		e = oldest; /* a free one (seq 0) or the oldest */
		memset(e, 0, sizeof(*e));
		e->netns = netns;
	}
	if (k[0] || !e->count) /* a request without a name keeps the one known */
		copy(e->key, sizeof(e->key), k);
	e->seq = ++t->seq;
	if ((ip4 && *ip4) || (ip6 && *ip6)) {
		copy(e->ips[0], sizeof(e->ips[0]), ip4);
		copy(e->ips[1], sizeof(e->ips[1]), ip6);
	}
	e->status = status;
	copy(e->reason, sizeof(e->reason), reason);
	e->reason[strcspn(e->reason, "\n")] = '\0';
	e->at = now;
	e->count++;
	pthread_mutex_unlock(&t->lock);
}

void mc_refusals_forget(struct mc_refusals *t, const char *key, uint64_t netns)
{
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < MC_REFUSALS_MAX; i++) {
		struct mc_refusal *x = &t->e[i];

		if (x->seq && ((key && *key && !strcmp(x->key, key)) || (netns && x->netns == netns)))
			memset(x, 0, sizeof(*x));
	}
	pthread_mutex_unlock(&t->lock);
}

json_t *mc_refusals_json(struct mc_refusals *t)
{
	json_t *a = json_array();
	uint64_t below = UINT64_MAX;

	pthread_mutex_lock(&t->lock);
	for (;;) { /* newest first: at most MC_REFUSALS_MAX passes over a small table */
		const struct mc_refusal *best = NULL;
		json_t *ips;

		for (int i = 0; i < MC_REFUSALS_MAX; i++)
			if (t->e[i].seq && t->e[i].seq < below && (!best || t->e[i].seq > best->seq))
				best = &t->e[i];
		if (!best)
			break;
		below = best->seq;
		ips = json_array();
		for (int k = 0; k < 2; k++)
			if (best->ips[k][0])
				json_array_append_new(ips, json_string(best->ips[k]));
		json_array_append_new(
			a, json_pack("{s:s*, s:o, s:I, s:i, s:s, s:I, s:i}", "pod",
				     best->key[0] ? best->key : NULL, "ips", ips, "netns_cookie",
				     (json_int_t)best->netns, "status", best->status, "reason",
				     best->reason, "at", (json_int_t)best->at, "count",
				     (int)best->count));
	}
	pthread_mutex_unlock(&t->lock);
	return a;
}

static bool has_ip(json_t *pod, const char *ip)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(pod, "ips"), i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), ip))
			return true;
	return false;
}

json_t *mc_why_filter(json_t *list, const char *pod, const char *ip, char *err, size_t errlen)
{
	char ebuf[MC_ERRLEN], norm[64];
	struct mc_addr a;
	json_t *out, *v;
	size_t i;

	if (!pod && !ip)
		return list;
	if (ip) {
		if (mc_parse_ip(ip, &a, ebuf)) {
			snprintf(err, errlen, "ip: %s", ebuf);
			json_decref(list);
			return NULL;
		}
		mc_format_ip(&a, norm, sizeof(norm));
	}
	out = json_array();
	json_array_foreach(list, i, v) {
		const char *key = json_string_value(json_object_get(v, "pod"));

		if ((pod && key && !strcmp(key, pod)) || (ip && has_ip(v, norm)))
			json_array_append(out, v);
	}
	json_decref(list);
	return out;
}

void mc_pairs_tally(const struct mc_pair *pairs, uint32_t n, uint64_t netns,
		    uint32_t c[MC_KIND_MAX][MC_TALLY_N])
{
	memset(c, 0, sizeof(uint32_t) * MC_KIND_MAX * MC_TALLY_N);
	for (uint32_t i = 0; pairs && i < n; i++) {
		const struct mc_pair *p = &pairs[i];
		uint32_t refs = __atomic_load_n(&p->refs, __ATOMIC_ACQUIRE);
		uint8_t kind = p->id.kind;

		if (!refs || (__atomic_load_n(&p->flags, __ATOMIC_ACQUIRE) & MC_PAIR_DELETED) ||
		    (netns && p->id.client_netns != netns) || kind == MC_KIND_NONE ||
		    kind >= MC_KIND_MAX)
			continue;
		c[kind][refs >= 2 ? 0 : 1]++;
		for (int s = 0; s < 2; s++) {
			uint32_t d = __atomic_load_n(&p->dir[s], __ATOMIC_RELAXED);

			if (d == MC_DIR_REDIRECT)
				c[kind][2]++;
			else if (d == MC_DIR_TCP || d == MC_DIR_EARLY_TCP)
				c[kind][3]++;
		}
	}
}

json_t *mc_why_pairs(const struct mc_pair *pairs, uint32_t n, uint64_t netns)
{
	static const char *const names[MC_KIND_MAX] = {
		[MC_KIND_OUTBOUND] = "outbound", [MC_KIND_NODE] = "node_local", [MC_KIND_INBOUND] = "inbound"};
	uint32_t c[MC_KIND_MAX][MC_TALLY_N]; /* pairs, waiting, redirected, tcp */
	json_t *o = json_object();

	if (netns) /* a pod's own pairs only: 0 is no pod's namespace */
		mc_pairs_tally(pairs, n, netns, c);
	else
		memset(c, 0, sizeof(c));
	for (int k = MC_KIND_OUTBOUND; k < MC_KIND_MAX; k++)
		json_object_set_new(o, names[k],
				    json_pack("{s:i, s:i, s:i, s:i}", "pairs", (int)c[k][0], "waiting",
					      (int)c[k][1], "redirected", (int)c[k][2], "tcp",
					      (int)c[k][3]));
	return o;
}
