/*
 * The cross-node shortcut's counters: status (JSON) and /metrics.
 */
#include "crossnode/tc_internal.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "crossnode/tc.h"
#include "prom.h"

static int read_stats(struct mc_tc *t, struct mc_tc_stats out[MC_TC_PROG_MAX])
{
	int ncpu = libbpf_num_possible_cpus(), c;
	struct mc_tc_stats *per;
	__u32 k;
	size_t i;

	memset(out, 0, sizeof(*out) * MC_TC_PROG_MAX);
	if (!t->skel || ncpu <= 0)
		return -ENOENT;
	per = calloc((size_t)ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	for (k = 0; k < MC_TC_PROG_MAX; k++) {
		if (bpf_map_lookup_elem(MFD(t, mc_tc_stats), &k, per))
			continue;
		for (c = 0; c < ncpu; c++)
			for (i = 0; i < sizeof(*per) / sizeof(__u64); i++)
				((__u64 *)&out[k])[i] += ((__u64 *)&per[c])[i];
	}
	free(per);
	return 0;
}

static const char *const pass_names[MC_TC_P_MAX] = {
	"not_ip", "fragment", "ip_options", "not_tcp", "not_ours", "no_flow", "not_remote",
	"mode", "policy", "fib", "frag_needed", "ttl", "not_overlay", "table_full",
};
static const char *const prog_names[MC_TC_PROG_MAX] = {"from_pod", "from_overlay"};

const char *mc_tc_degraded(void)
{
	struct mc_tc *t = mc_tc_of(NULL);

	/* t->tcx only moves from 0 once, under t->lock; a stale read says "not
	 * known yet", which is what it was a moment ago */
	if (__atomic_load_n(&t->tcx, __ATOMIC_RELAXED) < 0)
		return "cross-node shortcut: this kernel has no tcx links (6.6+); clsact filters "
		       "instead, behind any filter already on a device";
	return NULL;
}

static json_t *programs_json(const struct mc_tc_stats s[MC_TC_PROG_MAX])
{
	json_t *progs = json_object();
	__u32 p;

	for (p = 0; p < MC_TC_PROG_MAX; p++) {
		json_t *reasons = json_object();
		int r;

		for (r = 0; r < MC_TC_P_MAX; r++)
			json_object_set_new(reasons, pass_names[r], json_integer((json_int_t)s[p].pass[r]));
		json_object_set_new(progs, prog_names[p],
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "redirected",
					      (json_int_t)s[p].redirected, "bytes", (json_int_t)s[p].bytes,
					      "passed", (json_int_t)s[p].passed, "errors",
					      (json_int_t)s[p].errors, "flows", (json_int_t)s[p].flows,
					      "neigh", (json_int_t)s[p].neigh, "pass_reasons", reasons));
	}
	return progs;
}

/* the attachments (overlays by name, pods counted, how) and the remote CIDRs */
static void attachments_json(struct mc_tc *t, json_t *o, json_t *ovls, json_t *cidrs)
{
	struct att_entry *recs;
	size_t n = tc_all_records(t, &recs), pods = 0, tcx = 0, cls = 0, i;
	struct mc_tc_lpm_key k, *prev = NULL;
	char buf[80];

	for (i = 0; i < n; i++) {
		if (recs[i].rec.role == MC_TC_ROLE_OVL)
			json_array_append_new(ovls, json_string(recs[i].rec.name));
		else
			pods++;
		if (recs[i].rec.mode == MC_TC_MODE_TCX)
			tcx++;
		else
			cls++;
	}
	while (bpf_map_get_next_key(MFD(t, mc_tc_remote), prev, &k) == 0) {
		struct mc_cidr cd = {.addr = k.addr, .prefix_len = k.prefixlen};

		json_array_append_new(cidrs, json_string(mc_tc_cidr_string(&cd, buf, sizeof(buf))));
		prev = &k;
	}
	json_object_set_new(o, "pods_attached", json_integer((json_int_t)pods));
	json_object_set_new(o, "attach", json_string(!n ? "none" : tcx && cls ? "tcx+clsact"
							      : tcx ? "tcx" : "clsact"));
}

static json_t *cidrs_json(const struct mc_cidr *c, size_t n)
{
	json_t *a = json_array();
	char buf[80];
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(mc_tc_cidr_string(&c[i], buf, sizeof(buf))));
	return a;
}

json_t *mc_tc_stats_json(struct mc_agent *a)
{
	struct mc_tc *t = mc_tc_of(a);
	struct mc_tc_stats s[MC_TC_PROG_MAX];
	json_t *o = json_object(), *progs, *ovls, *cidrs;
	struct mc_control c = {};

	if (!o)
		return NULL;
	pthread_mutex_lock(&t->lock);
	if (!t->ready) {
		pthread_mutex_unlock(&t->lock);
		json_object_set_new(o, "available", json_false());
		return o;
	}
	mc_dp_read_control(&a->dp, &c);
	read_stats(t, s);
	progs = programs_json(s);
	ovls = json_array();
	cidrs = json_array();
	attachments_json(t, o, ovls, cidrs);
	json_object_set_new(o, "host_cidrs", cidrs_json(t->opts.host_cidrs, t->opts.n_host));
	json_object_set_new(o, "shortcut_cidrs", cidrs_json(t->opts.shortcut_cidrs, t->opts.n_shortcut));
	json_object_set_new(o, "available", json_true());
	json_object_set_new(o, "enabled", json_boolean(c.modes & MC_MODE_CROSS));
	json_object_set_new(o, "keep_host_policy", json_boolean(t->opts.keep_host_policy));
	if (t->opts.failed_closed)
		json_object_set_new(o, "config_error", json_string(t->opts.error));
	json_object_set_new(o, "overlays", ovls);
	json_object_set_new(o, "remote_cidrs", cidrs);
	json_object_set_new(o, "flows", json_integer((json_int_t)t->flows_live));
	json_object_set_new(o, "flows_expired", json_integer((json_int_t)t->flows_expired));
	json_object_set_new(o, "flows_handed_to_conntrack", json_integer((json_int_t)t->flows_handed));
	json_object_set_new(o, "handover_errors", json_integer((json_int_t)t->handover_errors));
	json_object_set_new(o, "programs", progs);
	/* the totals the issue asks for, summed over both programs */
	json_object_set_new(o, "redirected", json_integer((json_int_t)(s[0].redirected + s[1].redirected)));
	json_object_set_new(o, "passed", json_integer((json_int_t)(s[0].passed + s[1].passed)));
	json_object_set_new(o, "errors", json_integer((json_int_t)(s[0].errors + s[1].errors)));
	pthread_mutex_unlock(&t->lock);
	return o;
}

static void metrics(FILE *f, const struct mc_tc *t, const struct mc_tc_stats s[MC_TC_PROG_MAX])
{
	static const char *const results[3] = {"redirected", "passed", "error"};
	char labels[96];
	__u32 p;
	int r;

	mc_prom_family(f, "meshcut_cross_packets_total", "counter",
		       "Packets seen by the tc shortcut, by program and result.");
	for (p = 0; p < MC_TC_PROG_MAX; p++) {
		const __u64 v[3] = {s[p].redirected, s[p].passed, s[p].errors};

		for (r = 0; r < 3; r++) {
			snprintf(labels, sizeof(labels), "program=\"%s\",result=\"%s\"", prog_names[p],
				 results[r]);
			mc_prom_u64(f, "meshcut_cross_packets_total", labels, v[r]);
		}
	}
	mc_prom_family(f, "meshcut_cross_bytes_total", "counter", "Bytes redirected by the tc shortcut.");
	for (p = 0; p < MC_TC_PROG_MAX; p++) {
		snprintf(labels, sizeof(labels), "program=\"%s\"", prog_names[p]);
		mc_prom_u64(f, "meshcut_cross_bytes_total", labels, s[p].bytes);
	}
	mc_prom_family(f, "meshcut_cross_flows_total", "counter",
		       "Flows taken by the tc shortcut at their SYN.");
	for (p = 0; p < MC_TC_PROG_MAX; p++) {
		snprintf(labels, sizeof(labels), "program=\"%s\"", prog_names[p]);
		mc_prom_u64(f, "meshcut_cross_flows_total", labels, s[p].flows);
	}
	mc_prom_family(f, "meshcut_cross_passed_total", "counter",
		       "Packets handed on to the host path, by reason.");
	for (p = 0; p < MC_TC_PROG_MAX; p++)
		for (r = 0; r < MC_TC_P_MAX; r++) {
			snprintf(labels, sizeof(labels), "program=\"%s\",reason=\"%s\"", prog_names[p],
				 pass_names[r]);
			mc_prom_u64(f, "meshcut_cross_passed_total", labels, s[p].pass[r]);
		}
	mc_prom_one(f, "meshcut_cross_flows", "gauge", "Flows on the tc shortcut (at the last sweep).",
		    t->flows_live);
	mc_prom_one(f, "meshcut_cross_keep_host_policy", "gauge",
		    "1 when new cross-node flows keep the host path.",
		    t->opts.keep_host_policy ? 1 : 0);
}

char *mc_tc_metrics_text(struct mc_agent *a)
{
	struct mc_tc *t = mc_tc_of(a);
	struct mc_tc_stats s[MC_TC_PROG_MAX];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	pthread_mutex_lock(&t->lock);
	if (!t->ready || read_stats(t, s)) {
		pthread_mutex_unlock(&t->lock);
		return NULL;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		pthread_mutex_unlock(&t->lock);
		return NULL;
	}
	metrics(f, t, s);
	pthread_mutex_unlock(&t->lock);
	fclose(f);
	return buf;
}
