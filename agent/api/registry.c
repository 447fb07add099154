/* The pod registry, kept only in the BPF maps: see registry.h. */
#include "api/registry.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"

#define MAX_PODS 4096

/* fn gets each entry and its lifetime record (NULL: none); non-zero stops */
typedef int (*pod_fn)(__u64 netns, struct mc_pod *pod, const struct mc_pod_life *life, void *ctx);

static int each_pod(struct mc_registry *reg, pod_fn fn, void *ctx);

static int max_id(__u64 netns, struct mc_pod *pod, const struct mc_pod_life *life, void *ctx)
{
	(void)netns;
	(void)life;
	if (pod->pod_id >= *(uint32_t *)ctx)
		*(uint32_t *)ctx = pod->pod_id + 1;
	return 0;
}

void mc_registry_init(struct mc_registry *reg, const struct mc_registry_maps *maps)
{
	pthread_mutex_init(&reg->lock, NULL);
	reg->pods_fd = maps->pods;
	reg->ips_fd = maps->ips;
	reg->life_fd = maps->life;
	reg->pod_pairs_fd = maps->pod_pairs;
	reg->next_id = 1;
	each_pod(reg, max_id, &reg->next_id); /* adopted registrations keep their ids */
}

static bool get_life(struct mc_registry *reg, __u64 netns, struct mc_pod_life *life)
{
	return reg->life_fd >= 0 && bpf_map_lookup_elem(reg->life_fd, &netns, life) == 0;
}

/* visit all entries; fn returns non-zero to stop. Keys are collected first:
 * fn may delete the entry it is given. */
static int each_pod(struct mc_registry *reg, pod_fn fn, void *ctx)
{
	__u64 keys[MAX_PODS], key, *prev = NULL;
	size_t n = 0, i;
	struct mc_pod_life life;
	struct mc_pod pod;

	while (n < MAX_PODS && bpf_map_get_next_key(reg->pods_fd, prev, &key) == 0) {
		keys[n++] = key;
		prev = &keys[n - 1];
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(reg->pods_fd, &keys[i], &pod))
			continue;
		if (fn(keys[i], &pod, get_life(reg, keys[i], &life) ? &life : NULL, ctx))
			return 1;
	}
	return 0;
}

/* the registrations carrying one "namespace/name" */
struct named {
	const char *key;
	__u64 want;        /* 0: any namespace */
	__u64 netns[8];    /* the first ones, for messages */
	struct mc_pod pod; /* the first one */
	int n;
};

static int find_named(__u64 netns, struct mc_pod *pod, const struct mc_pod_life *life, void *vctx)
{
	struct named *c = vctx;

	(void)life;
	if (strncmp(pod->key, c->key, sizeof(pod->key)) || (c->want && netns != c->want))
		return 0;
	if (c->n == 0)
		c->pod = *pod;
	if (c->n < (int)(sizeof(c->netns) / sizeof(c->netns[0])))
		c->netns[c->n] = netns;
	c->n++;
	return 0;
}

static void unmap_ips(struct mc_registry *reg, const struct mc_pod *pod, __u64 netns)
{
	const struct mc_addr *ips[2] = {&pod->ip4, &pod->ip6};
	__u64 owner;
	int i;

	for (i = 0; i < 2; i++) {
		if (mc_addr_zero(ips[i]))
			continue;
		/* only if it still points at this pod */
		if (bpf_map_lookup_elem(reg->ips_fd, ips[i], &owner) == 0 && owner == netns)
			bpf_map_delete_elem(reg->ips_fd, ips[i]);
	}
}

/* everything one registration had in the registry's maps (caller holds the lock) */
static void drop(struct mc_registry *reg, const struct mc_pod *pod, __u64 netns)
{
	unmap_ips(reg, pod, netns);
	bpf_map_delete_elem(reg->pods_fd, &netns);
	if (reg->life_fd >= 0)
		bpf_map_delete_elem(reg->life_fd, &netns);
	/* its connections' slots are given back as they close; a gone pod's
	 * namespace never connects again (cookies are not reused) */
	if (reg->pod_pairs_fd >= 0)
		bpf_map_delete_elem(reg->pod_pairs_fd, &netns);
}

static int ip_owner(struct mc_registry *reg, const struct mc_addr *ip, __u64 *owner)
{
	if (mc_addr_zero(ip))
		return -1;
	return bpf_map_lookup_elem(reg->ips_fd, ip, owner);
}

static uint64_t boottime_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_BOOTTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int mc_registry_add(struct mc_registry *reg, const struct mc_registration *r,
		    uint64_t caller_netns, int nsid, struct mc_pod *stored, char *msg, size_t msglen)
{
	char key[MC_POD_KEY_LEN], ipbuf[64];
	const struct mc_addr *ips[2] = {&r->ip4, &r->ip6};
	struct mc_pod_life life = {.nsid = nsid < 0 ? -1 : nsid};
	struct mc_pod pod, existing;
	bool refresh;
	__u64 owner;
	int i, status;

	snprintf(key, sizeof(key), "%s/%s", r->namespace, r->name);
	if (r->has_netns_cookie && r->netns_cookie != caller_netns) {
		snprintf(msg, msglen,
			 "netns_cookie: the claim %llu is not the caller's network namespace (%llu)",
			 (unsigned long long)r->netns_cookie, (unsigned long long)caller_netns);
		return 403;
	}
	pthread_mutex_lock(&reg->lock);
	refresh = bpf_map_lookup_elem(reg->pods_fd, &caller_netns, &existing) == 0;
	if (refresh && strncmp(existing.key, key, sizeof(key))) {
		snprintf(msg, msglen, "this network namespace is already registered as pod %.*s",
			 (int)sizeof(existing.key), existing.key);
		status = 409;
		goto out;
	}
	/* every IP must be free, or already this namespace's (a registration
	 * whose namespace is gone was removed before: podwatch.h) */
	for (i = 0; i < 2; i++) {
		if (ip_owner(reg, ips[i], &owner) == 0 && owner != caller_netns) {
			struct mc_pod other;

			if (bpf_map_lookup_elem(reg->pods_fd, &owner, &other) == 0) {
				snprintf(msg, msglen, "ips: %s is registered to pod %.*s (netns %llu)",
					 mc_format_ip(ips[i], ipbuf, sizeof(ipbuf)), 200, other.key,
					 (unsigned long long)owner);
				status = 409;
				goto out;
			}
			bpf_map_delete_elem(reg->ips_fd, ips[i]); /* stale: its pod is gone */
		}
	}

	pod = r->policy;
	pod.netns_cookie = caller_netns;
	pod.pod_id = refresh ? existing.pod_id : reg->next_id++;
	pod.ip4 = r->ip4;
	pod.ip6 = r->ip6;
	pod.host_ifindex = r->host_ifindex;
	if (r->has_mac)
		memcpy(pod.mac, r->mac, sizeof(pod.mac));
	pod.registered_at = refresh ? existing.registered_at : (__u64)time(NULL);
	snprintf(pod.key, sizeof(pod.key), "%s", key);
	if (refresh)
		unmap_ips(reg, &existing, caller_netns);
	/* IPs first: the datapath looks a pod up by netns, then its peers by IP */
	for (i = 0; i < 2; i++) {
		if (mc_addr_zero(ips[i]))
			continue;
		if (bpf_map_update_elem(reg->ips_fd, ips[i], &caller_netns, BPF_ANY)) {
			snprintf(msg, msglen, "pod IP table full (%s)", strerror(errno));
			status = 507;
			goto undo;
		}
	}
	/* the lifetime before the entry: an entry is never without one */
	if (reg->life_fd >= 0) {
		struct mc_pod_life old;

		life.registered_ns = refresh && get_life(reg, caller_netns, &old) ? old.registered_ns
										 : boottime_ns();
		if (bpf_map_update_elem(reg->life_fd, &caller_netns, &life, BPF_ANY)) {
			snprintf(msg, msglen, "pod lifetime table full (%s)", strerror(errno));
			status = 507;
			goto undo;
		}
	}
	if (bpf_map_update_elem(reg->pods_fd, &caller_netns, &pod, BPF_ANY)) {
		snprintf(msg, msglen, "pod table full (%s)", strerror(errno));
		status = 507;
		goto undo;
	}
	snprintf(msg, msglen, "%s pod %s", refresh ? "refreshed" : "registered", key);
	status = refresh ? 200 : 201;
	if (stored)
		*stored = pod;
	goto out;
undo:
	drop(reg, &pod, caller_netns);
out:
	pthread_mutex_unlock(&reg->lock);
	return status;
}

/* "12, 34 and 56" */
static void cookies(const struct named *c, char *buf, size_t len)
{
	size_t off = 0;
	int i, n = c->n < 8 ? c->n : 8;

	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%llu",
					i == 0 ? "" : i == n - 1 && n == c->n ? " and " : ", ",
					(unsigned long long)c->netns[i]);
	if (n < c->n && off < len)
		snprintf(buf + off, len - off, ", ...");
}

int mc_registry_remove(struct mc_registry *reg, const char *key, uint64_t caller_netns,
		       uint64_t want_netns, struct mc_pod *removed, char *msg, size_t msglen)
{
	struct named c = {.key = key};
	struct mc_pod own;
	char list[200];
	__u64 netns;
	int status;

	pthread_mutex_lock(&reg->lock);
	if (caller_netns) {
		/* a pod: its own registration, by the name it carries */
		if (bpf_map_lookup_elem(reg->pods_fd, &caller_netns, &own) == 0 &&
		    !strncmp(own.key, key, sizeof(own.key)) &&
		    (!want_netns || want_netns == caller_netns)) {
			c.pod = own;
			netns = caller_netns;
			goto remove;
		}
		each_pod(reg, find_named, &c);
		if (c.n || want_netns) {
			snprintf(msg, msglen, "pod %.200s is not the caller's registration: a pod "
					      "deregisters only its own", key);
			status = 403;
		} else {
			snprintf(msg, msglen, "no pod %.200s is registered", key);
			status = 404;
		}
		goto out;
	}
	/* an admin: the one registration carrying key (in want_netns) */
	c.want = want_netns;
	each_pod(reg, find_named, &c);
	if (c.n == 0) {
		if (want_netns)
			snprintf(msg, msglen, "no pod %.200s is registered from netns %llu", key,
				 (unsigned long long)want_netns);
		else
			snprintf(msg, msglen, "no pod %.200s is registered", key);
		status = 404;
		goto out;
	}
	if (c.n > 1) {
		cookies(&c, list, sizeof(list));
		snprintf(msg, msglen, "%d registrations carry the name %.200s (netns %s): name the "
				      "one to remove with ?netns=COOKIE", c.n, key, list);
		status = 409;
		goto out;
	}
	netns = c.netns[0];
remove:
	drop(reg, &c.pod, netns);
	snprintf(msg, msglen, "deregistered pod %.200s (netns %llu)", key, (unsigned long long)netns);
	if (removed)
		*removed = c.pod;
	status = 200;
out:
	pthread_mutex_unlock(&reg->lock);
	return status;
}

int mc_registry_remove_netns(struct mc_registry *reg, uint64_t netns, struct mc_pod *removed)
{
	struct mc_pod pod;
	int rc = -ENOENT;

	pthread_mutex_lock(&reg->lock);
	if (bpf_map_lookup_elem(reg->pods_fd, &netns, &pod) == 0) {
		drop(reg, &pod, netns);
		if (removed)
			*removed = pod;
		rc = 0;
	} else if (reg->life_fd >= 0) {
		bpf_map_delete_elem(reg->life_fd, &netns); /* a lifetime left alone */
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int mc_registry_get(struct mc_registry *reg, uint64_t netns, struct mc_pod *pod,
		    struct mc_pod_life *life, bool *has_life)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&reg->lock);
	if (bpf_map_lookup_elem(reg->pods_fd, &netns, pod) == 0) {
		*has_life = get_life(reg, netns, life);
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

int mc_registry_ip_owner(struct mc_registry *reg, const struct mc_addr *ip, uint64_t *netns)
{
	__u64 owner;
	int rc;

	pthread_mutex_lock(&reg->lock);
	rc = ip_owner(reg, ip, &owner) ? -ENOENT : 0;
	pthread_mutex_unlock(&reg->lock);
	if (!rc)
		*netns = owner;
	return rc;
}

static json_t *ports_json(const __u16 *ports, __u16 n)
{
	json_t *a = json_array();
	__u16 i;

	for (i = 0; i < n && i < MC_MAX_PORTS; i++)
		json_array_append_new(a, json_integer(ports[i]));
	return a;
}

static json_t *cidrs_json(const struct mc_cidr *c, __u16 n)
{
	json_t *a = json_array();
	char buf[80], ip[64];
	__u16 i;

	for (i = 0; i < n && i < MC_MAX_CIDRS; i++) {
		bool v4 = mc_addr_v4(&c[i].addr);

		snprintf(buf, sizeof(buf), "%s/%u", mc_format_ip(&c[i].addr, ip, sizeof(ip)),
			 v4 ? c[i].prefix_len - 96 : c[i].prefix_len);
		json_array_append_new(a, json_string(buf));
	}
	return a;
}

struct list_ctx {
	json_t *a;
	__u64 only; /* 0: all */
};

static int list_one(__u64 netns, struct mc_pod *p, const struct mc_pod_life *life, void *vctx)
{
	struct list_ctx *ctx = vctx;
	json_t *ips, *o;
	char ip[64], mac[24];

	if (ctx->only && netns != ctx->only)
		return 0;
	ips = json_array();

	if (!mc_addr_zero(&p->ip4))
		json_array_append_new(ips, json_string(mc_format_ip(&p->ip4, ip, sizeof(ip))));
	if (!mc_addr_zero(&p->ip6))
		json_array_append_new(ips, json_string(mc_format_ip(&p->ip6, ip, sizeof(ip))));
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
		 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
	p->key[sizeof(p->key) - 1] = '\0';
	o = json_pack("{s:s, s:I, s:i, s:o, s:i, s:i, s:i, s:i, s:s, s:I}", "pod", p->key,
		      "netns_cookie", (json_int_t)netns, "id", (int)p->pod_id, "ips", ips,
		      "outbound_port", p->outbound_port, "inbound_port", p->inbound_port,
		      "proxy_uid", (int)p->proxy_uid, "host_ifindex", (int)p->host_ifindex, "mac",
		      mac, "registered_at", (json_int_t)p->registered_at);
	json_object_set_new(o, (p->flags & MC_POD_IN_PORTS_ONLY) ? "include_inbound_ports"
								  : "exclude_inbound_ports",
			    ports_json(p->in_ports, p->n_in_ports));
	json_object_set_new(o, "exclude_outbound_ports", ports_json(p->out_ports, p->n_out_ports));
	json_object_set_new(o, "exclude_outbound_cidrs",
			    cidrs_json(p->out_cidrs_excl, p->n_cidrs_excl));
	if (p->flags & MC_POD_OUT_CIDRS_ONLY)
		json_object_set_new(o, "include_outbound_cidrs",
				    cidrs_json(p->out_cidrs_incl, p->n_cidrs_incl));
	json_object_set_new(o, "app_sockets",
			    json_string((p->flags & MC_POD_APP_TCP) ? "tcp" : "shortcut"));
	json_object_set_new(o, "app_reads",
			    json_string((p->flags & MC_POD_APP_READS_RECV) ? "recv" : "any"));
	/* the netnsid the agent watches for the namespace's end (-1: unknown) */
	json_object_set_new(o, "nsid", json_integer(life ? life->nsid : -1));
	json_array_append_new(ctx->a, o);
	return 0;
}

json_t *mc_registry_list(struct mc_registry *reg, uint64_t only_netns)
{
	struct list_ctx c = {.a = json_array(), .only = only_netns};

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, list_one, &c);
	pthread_mutex_unlock(&reg->lock);
	return c.a;
}

static int count_one(__u64 netns, struct mc_pod *p, const struct mc_pod_life *life, void *ctx)
{
	(void)netns;
	(void)p;
	(void)life;
	(*(uint32_t *)ctx)++;
	return 0;
}

uint32_t mc_registry_count(struct mc_registry *reg)
{
	uint32_t n = 0;

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, count_one, &n);
	pthread_mutex_unlock(&reg->lock);
	return n;
}

struct each_ctx {
	void (*fn)(const struct mc_pod *pod, void *ctx);
	void (*fn_life)(const struct mc_pod *pod, const struct mc_pod_life *life, void *ctx);
	void *ctx;
};

static int each_one(__u64 netns, struct mc_pod *p, const struct mc_pod_life *life, void *vctx)
{
	struct each_ctx *c = vctx;

	(void)netns;
	if (c->fn)
		c->fn(p, c->ctx);
	else
		c->fn_life(p, life, c->ctx);
	return 0;
}

void mc_registry_each(struct mc_registry *reg, void (*fn)(const struct mc_pod *pod, void *ctx),
		      void *ctx)
{
	struct each_ctx c = {.fn = fn, .ctx = ctx};

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, each_one, &c);
	pthread_mutex_unlock(&reg->lock);
}

void mc_registry_each_life(struct mc_registry *reg,
			   void (*fn)(const struct mc_pod *pod, const struct mc_pod_life *life,
				      void *ctx),
			   void *ctx)
{
	struct each_ctx c = {.fn_life = fn, .ctx = ctx};

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, each_one, &c);
	pthread_mutex_unlock(&reg->lock);
}
