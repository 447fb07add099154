/* The pod registry, kept only in the BPF maps: see registry.h. */
#include "registry.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "log.h"

static int each_pod(struct mc_registry *reg, int (*fn)(__u64 netns, struct mc_pod *pod, void *ctx),
		    void *ctx);

static int max_id(__u64 netns, struct mc_pod *pod, void *ctx)
{
	(void)netns;
	if (pod->pod_id >= *(uint32_t *)ctx)
		*(uint32_t *)ctx = pod->pod_id + 1;
	return 0;
}

void mc_registry_init(struct mc_registry *reg, int pods_fd, int ips_fd)
{
	pthread_mutex_init(&reg->lock, NULL);
	reg->pods_fd = pods_fd;
	reg->ips_fd = ips_fd;
	reg->next_id = 1;
	each_pod(reg, max_id, &reg->next_id); /* adopted registrations keep their ids */
}

/* visit all entries; fn returns non-zero to stop. Keys are collected first:
 * fn may delete the entry it is given. */
static int each_pod(struct mc_registry *reg, int (*fn)(__u64 netns, struct mc_pod *pod, void *ctx),
		    void *ctx)
{
	__u64 keys[4096], key, *prev = NULL;
	size_t n = 0, i;
	struct mc_pod pod;

	while (n < sizeof(keys) / sizeof(keys[0]) &&
	       bpf_map_get_next_key(reg->pods_fd, prev, &key) == 0) {
		keys[n++] = key;
		prev = &keys[n - 1];
	}
	for (i = 0; i < n; i++) {
		if (bpf_map_lookup_elem(reg->pods_fd, &keys[i], &pod))
			continue;
		if (fn(keys[i], &pod, ctx))
			return 1;
	}
	return 0;
}

struct find_ctx {
	const char *key;
	__u64 netns;
	struct mc_pod pod;
	bool found;
};

static int find_key(__u64 netns, struct mc_pod *pod, void *vctx)
{
	struct find_ctx *c = vctx;

	if (strncmp(pod->key, c->key, sizeof(pod->key)))
		return 0;
	c->netns = netns;
	c->pod = *pod;
	c->found = true;
	return 1;
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

static int ip_owner(struct mc_registry *reg, const struct mc_addr *ip, __u64 *owner)
{
	if (mc_addr_zero(ip))
		return -1;
	return bpf_map_lookup_elem(reg->ips_fd, ip, owner);
}

int mc_registry_add(struct mc_registry *reg, const struct mc_registration *r,
		    uint64_t caller_netns, struct mc_pod *stored, char *msg, size_t msglen)
{
	char key[MC_POD_KEY_LEN], ipbuf[64];
	struct find_ctx same_key = {.key = key};
	const struct mc_addr *ips[2] = {&r->ip4, &r->ip6};
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
	/* every IP must be free, or already this namespace's */
	for (i = 0; i < 2; i++) {
		if (ip_owner(reg, ips[i], &owner) == 0 && owner != caller_netns) {
			struct mc_pod other;

			if (bpf_map_lookup_elem(reg->pods_fd, &owner, &other) == 0) {
				snprintf(msg, msglen, "ips: %s is registered to pod %.*s",
					 mc_format_ip(ips[i], ipbuf, sizeof(ipbuf)), 200, other.key);
				status = 409;
				goto out;
			}
			bpf_map_delete_elem(reg->ips_fd, ips[i]); /* stale: its pod is gone */
		}
	}
	/* the same name from another namespace: the pod was re-created */
	each_pod(reg, find_key, &same_key);
	if (same_key.found && same_key.netns != caller_netns) {
		pr_info("pod %s re-registered from a new network namespace (%llu -> %llu)", key,
			(unsigned long long)same_key.netns, (unsigned long long)caller_netns);
		unmap_ips(reg, &same_key.pod, same_key.netns);
		bpf_map_delete_elem(reg->pods_fd, &same_key.netns);
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
	unmap_ips(reg, &pod, caller_netns);
	bpf_map_delete_elem(reg->pods_fd, &caller_netns);
out:
	pthread_mutex_unlock(&reg->lock);
	return status;
}

int mc_registry_remove(struct mc_registry *reg, const char *key, uint64_t caller_netns,
		       struct mc_pod *removed, char *msg, size_t msglen)
{
	struct find_ctx c = {.key = key};
	int status;

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, find_key, &c);
	if (!c.found) {
		snprintf(msg, msglen, "no pod %.200s is registered", key);
		status = 404;
	} else if (caller_netns && c.netns != caller_netns) {
		snprintf(msg, msglen, "pod %.200s can only be deregistered from its own network namespace", key);
		status = 403;
	} else {
		unmap_ips(reg, &c.pod, c.netns);
		bpf_map_delete_elem(reg->pods_fd, &c.netns);
		snprintf(msg, msglen, "deregistered pod %.200s", key);
		if (removed)
			*removed = c.pod;
		status = 200;
	}
	pthread_mutex_unlock(&reg->lock);
	return status;
}

int mc_registry_remove_netns(struct mc_registry *reg, uint64_t netns, struct mc_pod *removed)
{
	struct mc_pod pod;
	int rc = -ENOENT;

	pthread_mutex_lock(&reg->lock);
	if (bpf_map_lookup_elem(reg->pods_fd, &netns, &pod) == 0) {
		unmap_ips(reg, &pod, netns);
		bpf_map_delete_elem(reg->pods_fd, &netns);
		if (removed)
			*removed = pod;
		rc = 0;
	}
	pthread_mutex_unlock(&reg->lock);
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

static int list_one(__u64 netns, struct mc_pod *p, void *ctx)
{
	json_t *ips = json_array(), *o;
	char ip[64], mac[24];

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
	json_array_append_new(ctx, o);
	return 0;
}

json_t *mc_registry_list(struct mc_registry *reg)
{
	json_t *a = json_array();

	pthread_mutex_lock(&reg->lock);
	each_pod(reg, list_one, a);
	pthread_mutex_unlock(&reg->lock);
	return a;
}

static int count_one(__u64 netns, struct mc_pod *p, void *ctx)
{
	(void)netns;
	(void)p;
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
	void *ctx;
};

static int each_one(__u64 netns, struct mc_pod *p, void *vctx)
{
	struct each_ctx *c = vctx;

	(void)netns;
	c->fn(p, c->ctx);
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
