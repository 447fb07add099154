/* Status, counters and metrics of the agent: see stats.h. */
#include "shortcut/stats.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "api/api_metrics.h"
#include "api/why.h"
#include "prom.h"
#include "shortcut/layouts.h"
#include "shortcut/rw_hooks.h"
#include "monitor/session.h"
#include "shortcut/layouts.h"
#include "shortcut/rw_hooks.h"
#include "crossnode/tc.h"

static const char *const reason_names[MC_TCP_REASONS] = {"peer_missing", "mode", "backlog",
							  "ulp", "rcvlowat", "waitall",
							  "send_error"};

/* an agent the kernel refused (agent.h: unsupported): what it can still say */
static json_t *unsupported_status(struct mc_agent *a)
{
	return json_pack("{s:s, s:i, s:s, s:b, s:s, s:I}", "version", MESHCUT_VERSION, "layout",
			 MC_LAYOUT_VERSION, "libbpf", LIBBPF_VERSION_STRING, "supported", 0,
			 "reason", a->dp.unsupported, "started", (json_int_t)a->started);
}

/* meshcut_info and meshcut_supported: what even an idle agent says */
static void info_metrics(FILE *b, int supported)
{
	char labels[64];

	snprintf(labels, sizeof(labels), "version=\"%s\",layout=\"%d\"", MESHCUT_VERSION,
		 MC_LAYOUT_VERSION);
	mc_prom_family(b, "meshcut_info", "gauge", "Agent version and map layout.");
	mc_prom_u64(b, "meshcut_info", labels, 1);
	mc_prom_one(b, "meshcut_supported", "gauge",
		    "1 when meshcut runs on this node, 0 when the kernel refused it (the agent idles).",
		    (unsigned long long)supported);
}

json_t *mc_status_json(struct mc_agent *a)
{
	struct mc_control c = {};
	struct mc_dp_fill f;
	char modes[64];
	json_t *o;

	if (a->dp.unsupported[0])
		return unsupported_status(a);
	mc_dp_read_control(&a->dp, &c);
	mc_dp_fill(&a->dp, &f);
	pthread_mutex_lock(&a->lock);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:b, s:I, s:i, s:I, s:I, "
		      "s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:I, s:I, s:I, s:I, s:I, s:I}}",
		      "version", MESHCUT_VERSION, "layout", MC_LAYOUT_VERSION, "libbpf",
		      LIBBPF_VERSION_STRING, "mode", mc_mode_string(c.modes, modes, sizeof(modes)),
		      "pin_dir", a->dp.pin_dir, "cgroup", a->dp.cgroup, "adopted", a->dp.adopted,
		      "started", (json_int_t)a->started, "pods", (int)f.pods, "backlog_limit",
		      (json_int_t)c.backlog_limit, "pod_pairs_max", (json_int_t)c.pod_pairs_max, "maps", "pairs_used", (int)f.pairs_used,
		      "pairs_max", (int)f.pairs_max, "pending", (int)f.pending, "pods", (int)f.pods,
		      "pods_max", (int)f.pods_max, "sockhash_max", (int)(2 * f.pairs_max), "sockhash",
		      (int)f.sockets, "drain",
		      "waiting", (int)a->last_drain.waiting, "backlog_bytes",
		      (json_int_t)a->last_drain.backlog_bytes, "redirect_after_flip",
		      (json_int_t)__atomic_load_n(&a->drainer.redirect_after_flip, __ATOMIC_RELAXED),
		      "closed_unread",
		      (json_int_t)__atomic_load_n(&a->drainer.closed_unread, __ATOMIC_RELAXED),
		      "readers_woken", (json_int_t)__atomic_load_n(&a->waker.woken, __ATOMIC_RELAXED),
		      "wake_errors", (json_int_t)__atomic_load_n(&a->waker.errors, __ATOMIC_RELAXED),
		      "wake_missed", (json_int_t)__atomic_load_n(&a->waker.missed, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&a->lock);
	{
		struct mc_layout_info l[16];
		int n = mc_layouts_scan(a->dp.pin_dir, l, 16), i;
		json_t *arr = json_array();

		for (i = 0; i < n; i++)
			json_array_append_new(
				arr, json_pack("{s:i, s:b, s:b, s:I}", "layout", l[i].version, "ours",
					       l[i].version == MC_LAYOUT_VERSION, "active",
					       (uint32_t)l[i].version == c.active_layout, "live_sockets",
					       (json_int_t)(l[i].census ? l[i].live : 0)));
		json_object_set_new(o, "layouts", arr);
		json_object_set_new(o, "supported", json_true());
	}
	json_object_set_new(o, "attach",
			    json_pack("{s:s, s:s, s:s, s:b}", "sockops", a->dp.cgroup, "sk_msg",
				      "mc_socks (SOCKHASH)", "recv_send_hooks",
				      mc_rw_hooks_name(a->dp.rw_hooks), "socket_hooks_attached",
				      __atomic_load_n(&a->dp.socket_hooks, __ATOMIC_RELAXED)));
	{
		/* optional kernel features found missing: what runs with less */
		json_t *deg = json_array();
		const char *tc = mc_tc_degraded();

		if (tc)
			json_array_append_new(deg, json_string(tc));
		json_object_set_new(o, "degraded", deg);
	}
	return o;
}

/* the datapath's counters, plus the pairs the agent's drain moved to TCP for a
 * mode change before any message of theirs did */
static void read_stats(struct mc_agent *a, struct mc_kind_stats s[MC_KIND_MAX])
{
	uint32_t k;

	mc_dp_read_stats(&a->dp, s);
	for (k = 0; k < MC_KIND_MAX; k++)
		s[k].to_tcp[MC_TCP_MODE] +=
			__atomic_load_n(&a->drainer.mode_leaves[k], __ATOMIC_RELAXED);
}

json_t *mc_stats_json(struct mc_agent *a)
{
	struct mc_kind_stats s[MC_KIND_MAX];
	json_t *o, *redirected, *bytes, *to_tcp, *kinds;
	uint64_t fallback = 0, sockets = 0, reasons[MC_TCP_REASONS] = {0};
	uint32_t k, r;

	read_stats(a, s);
	redirected = json_object();
	bytes = json_object();
	kinds = json_object();
	for (k = 1; k < MC_KIND_MAX; k++) {
		const char *name = mc_kind_name(k);
		json_t *reasons_k = json_object();

		json_object_set_new(redirected, name, json_integer((json_int_t)s[k].msgs));
		json_object_set_new(bytes, name, json_integer((json_int_t)s[k].bytes));
		for (r = 0; r < MC_TCP_REASONS; r++) {
			reasons[r] += s[k].to_tcp[r];
			fallback += s[k].to_tcp[r];
			json_object_set_new(reasons_k, reason_names[r],
					    json_integer((json_int_t)s[k].to_tcp[r]));
		}
		fallback += s[k].insert_fail + s[k].no_slot + s[k].quota;
		sockets += s[k].sockets;
		json_object_set_new(
			kinds, name,
			json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "sockets",
				  (json_int_t)s[k].sockets, "pairs", (json_int_t)s[k].pairs, "msgs",
				  (json_int_t)s[k].msgs, "bytes", (json_int_t)s[k].bytes, "tcp_msgs",
				  (json_int_t)s[k].tcp_msgs, "to_tcp", reasons_k, "insert_fail",
				  (json_int_t)s[k].insert_fail, "no_slot", (json_int_t)s[k].no_slot,
				  "fin_held", (json_int_t)s[k].fin_held, "rst_unread",
				  (json_int_t)s[k].rst_unread));
		json_object_set_new(json_object_get(kinds, name), "quota",
				    json_integer((json_int_t)s[k].quota));
		json_object_set_new(json_object_get(kinds, name), "early_tcp",
				    json_integer((json_int_t)s[k].early_tcp));
		json_object_set_new(json_object_get(kinds, name), "promoted",
				    json_integer((json_int_t)s[k].promoted));
	}
	to_tcp = json_object();
	for (r = 0; r < MC_TCP_REASONS; r++)
		json_object_set_new(to_tcp, reason_names[r], json_integer((json_int_t)reasons[r]));
	o = json_pack("{s:o, s:I, s:i, s:o, s:o, s:I, s:o, s:o}", "cross", mc_tc_stats_json(a),
		      "sockets", (json_int_t)sockets,
		      "pairs_live", (int)mc_pairs_live(a->dp.pairs, a->dp.max_pairs), "redirected",
		      redirected, "redirected_bytes", bytes, "fallback", (json_int_t)fallback,
		      "to_tcp", to_tcp, "kinds", kinds);
	return o;
}

/* one family with a sample per pair kind; OFF: a __u64 of struct mc_kind_stats */
static void per_pair(FILE *b, const struct mc_kind_stats s[MC_KIND_MAX], size_t off,
		     const char *name, const char *type, const char *help)
{
	char labels[64];
	uint32_t k;

	mc_prom_family(b, name, type, help);
	for (k = 1; k < MC_KIND_MAX; k++) {
		snprintf(labels, sizeof(labels), "pair=\"%s\"", mc_kind_name(k));
		mc_prom_u64(b, name, labels, *(const __u64 *)((const char *)&s[k] + off));
	}
}

static void fallback_metrics(FILE *b, const struct mc_kind_stats s[MC_KIND_MAX])
{
	static const char *const name = "meshcut_fallback_total";
	char labels[96];
	uint32_t k, r;

	mc_prom_family(b, name, "counter",
		       "Directions that left (or never took) the shortcut, by reason.");
	for (k = 1; k < MC_KIND_MAX; k++) {
		const char *pair = mc_kind_name(k);

		for (r = 0; r < MC_TCP_REASONS; r++) {
			snprintf(labels, sizeof(labels), "pair=\"%s\",reason=\"%s\"", pair,
				 reason_names[r]);
			mc_prom_u64(b, name, labels, s[k].to_tcp[r]);
		}
		snprintf(labels, sizeof(labels), "pair=\"%s\",reason=\"insert_fail\"", pair);
		mc_prom_u64(b, name, labels, s[k].insert_fail);
		snprintf(labels, sizeof(labels), "pair=\"%s\",reason=\"no_slot\"", pair);
		mc_prom_u64(b, name, labels, s[k].no_slot);
		snprintf(labels, sizeof(labels), "pair=\"%s\",reason=\"pod_quota\"", pair);
		mc_prom_u64(b, name, labels, s[k].quota);
	}
}

/* one gauge family over the pair table's tally: per kind, two states */
static void tally_family(FILE *b, const char *name, const char *help,
			 uint32_t c[MC_KIND_MAX][MC_TALLY_N], int first, const char *const state[2])
{
	char labels[64];
	uint32_t k, i;

	mc_prom_family(b, name, "gauge", help);
	for (k = 1; k < MC_KIND_MAX; k++)
		for (i = 0; i < 2; i++) {
			snprintf(labels, sizeof(labels), "pair=\"%s\",state=\"%s\"", mc_kind_name(k),
				 state[i]);
			mc_prom_u64(b, name, labels, c[k][first + (int)i]);
		}
}

/* live pairs by kind and state, from the mmapped pair table (a walk of
 * --max-pairs slots per scrape: about a millisecond at the default) */
static void pairs_by_state(FILE *b, struct mc_agent *a)
{
	static const char *const pstate[] = {"joined", "waiting"}, *const dstate[] = {"redirected", "tcp"};
	uint32_t c[MC_KIND_MAX][MC_TALLY_N];

	mc_pairs_tally(a->dp.pairs, a->dp.max_pairs, 0, c);
	tally_family(b, "meshcut_pairs", "Live pairs by kind: joined (both ends) or waiting (one end).",
		     c, MC_TALLY_JOINED, pstate);
	tally_family(b, "meshcut_pair_directions",
		     "Directions of live pairs (two per pair) on the shortcut or on TCP.", c,
		     MC_TALLY_REDIRECTED, dstate);
}

/* the socket shortcut's own families (the cross-node shortcut and the monitor
 * add theirs after) */
static void shortcut_metrics(FILE *b, struct mc_agent *a)
{
	static const char *const modes[] = {"outbound", "inbound", "node", "cross"};
	const uint32_t bits[] = {MC_MODE_OUTBOUND, MC_MODE_INBOUND, MC_MODE_NODE, MC_MODE_CROSS};
	struct mc_kind_stats s[MC_KIND_MAX];
	struct mc_control c = {};
	struct mc_dp_fill f;
	char labels[32];
	uint32_t i;

	read_stats(a, s);
	mc_dp_read_control(&a->dp, &c);
	mc_dp_fill(&a->dp, &f);
	mc_prom_family(b, "meshcut_mode_enabled", "gauge", "Shortcut modes switched on.");
	for (i = 0; i < 4; i++) {
		snprintf(labels, sizeof(labels), "mode=\"%s\"", modes[i]);
		mc_prom_u64(b, "meshcut_mode_enabled", labels, !!(c.modes & bits[i]));
	}
	mc_prom_one(b, "meshcut_pods", "gauge", "Registered pods.", f.pods);
	mc_prom_one(b, "meshcut_pairs_used", "gauge", "Pair slots in use.", f.pairs_used);
	mc_prom_one(b, "meshcut_pairs_max", "gauge", "Pair slots.", f.pairs_max);
	pairs_by_state(b, a);
	mc_prom_one(b, "meshcut_drain_backlog_bytes", "gauge",
		    "Redirected bytes not yet read in pairs leaving the shortcut.",
		    a->last_drain.backlog_bytes);
	mc_prom_one(b, "meshcut_drain_redirect_after_flip_total", "counter",
		    "Pairs the drain found redirecting again after it had moved them to TCP "
		    "(a datapath defect; flipped again, not deleted).",
		    __atomic_load_n(&a->drainer.redirect_after_flip, __ATOMIC_RELAXED));
	mc_prom_one(b, "meshcut_drain_readers_woken_total", "counter",
		    "Sockets deleted from the SOCKHASH whose readers the agent woke, so an "
		    "edge-triggered reader reads the TCP bytes queued behind redirected ones.",
		    __atomic_load_n(&a->waker.woken, __ATOMIC_RELAXED));
	mc_prom_one(b, "meshcut_drain_wake_errors_total", "counter",
		    "Sockets the agent found to wake whose SO_RCVLOWAT the kernel refused to set "
		    "(not woken).", __atomic_load_n(&a->waker.errors, __ATOMIC_RELAXED));
	mc_prom_one(b, "meshcut_drain_wake_missed_total", "counter",
		    "Sockets deleted from the SOCKHASH whose readers were not woken (closed "
		    "meanwhile, their namespace not found in --netns-dir, or no wake iterator).",
		    __atomic_load_n(&a->waker.missed, __ATOMIC_RELAXED));
	per_pair(b, s, offsetof(struct mc_kind_stats, sockets), "meshcut_sockets_total", "counter",
		 "Sockets inserted in the SOCKHASH.");
	per_pair(b, s, offsetof(struct mc_kind_stats, msgs), "meshcut_redirected_messages_total",
		 "counter", "Messages moved socket to socket.");
	per_pair(b, s, offsetof(struct mc_kind_stats, bytes), "meshcut_redirected_bytes_total",
		 "counter", "Bytes moved socket to socket.");
	per_pair(b, s, offsetof(struct mc_kind_stats, tcp_msgs), "meshcut_tcp_messages_total",
		 "counter", "Messages of paired sockets that went over TCP.");
	per_pair(b, s, offsetof(struct mc_kind_stats, fin_held), "meshcut_fin_held_total",
		 "counter", "FINs held until the receiver read every redirected byte.");
	per_pair(b, s, offsetof(struct mc_kind_stats, rst_unread), "meshcut_rst_unread_total",
		 "counter", "Resets that discarded unread redirected bytes.");
	fallback_metrics(b, s);
}

char *mc_metrics_text(struct mc_agent *a)
{
	char *out = NULL;
	size_t len = 0;
	FILE *b = open_memstream(&out, &len); /* grows as needed */
	uint32_t k;

	if (!b)
		return NULL;
	info_metrics(b, !a->dp.unsupported[0]);
	mc_api_metrics(b, a);
	if (!a->dp.unsupported[0]) {
		char *parts[2];

		shortcut_metrics(b, a);
		parts[0] = mc_tc_metrics_text(a);
		parts[1] = mc_monitor_metrics_text(a);
		for (k = 0; k < 2; k++) {
			if (parts[k])
				fprintf(b, "%s", parts[k]);
			free(parts[k]);
		}
	}
	if (fclose(b)) {
		free(out);
		return NULL;
	}
	return out;
}
