/* Status, counters and metrics of the agent: see stats.h. */
#include "shortcut/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "shortcut/layouts.h"
#include "shortcut/rw_hooks.h"
#include "../monitor.h"
#include "tc.h"

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

static char *unsupported_metrics(struct mc_agent *a)
{
	char *out = NULL;

	(void)a;
	if (asprintf(&out,
		     "# HELP meshcut_info Agent version and map layout.\n# TYPE meshcut_info gauge\n"
		     "meshcut_info{version=\"%s\",layout=\"%d\"} 1\n"
		     "# HELP meshcut_supported 1 when meshcut runs on this node, 0 when the kernel refused it (the agent idles).\n"
		     "# TYPE meshcut_supported gauge\nmeshcut_supported 0\n",
		     MESHCUT_VERSION, MC_LAYOUT_VERSION) < 0)
		return NULL;
	return out;
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
		      "s:{s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:I, s:I, s:I}}",
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
		      (json_int_t)__atomic_load_n(&a->drainer.closed_unread, __ATOMIC_RELAXED));
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
			    json_pack("{s:s, s:s, s:s}", "sockops", a->dp.cgroup, "sk_msg",
				      "mc_socks (SOCKHASH)", "recv_send_hooks",
				      mc_rw_hooks_name(a->dp.rw_hooks)));
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

char *mc_metrics_text(struct mc_agent *a)
{
	struct mc_kind_stats s[MC_KIND_MAX];
	struct mc_control c = {};
	struct mc_dp_fill f;
	char *out = NULL;
	size_t len = 0;
	FILE *b = open_memstream(&out, &len); /* grows as needed */
	uint32_t k, r;

	if (!b)
		return NULL;
	if (a->dp.unsupported[0]) {
		fclose(b);
		free(out);
		return unsupported_metrics(a);
	}
	read_stats(a, s);
	mc_dp_read_control(&a->dp, &c);
	mc_dp_fill(&a->dp, &f);
	fprintf(b, "# HELP meshcut_info Agent version and map layout.\n# TYPE meshcut_info gauge\n");
	fprintf(b, "meshcut_info{version=\"%s\",layout=\"%d\"} 1\n", MESHCUT_VERSION,
		MC_LAYOUT_VERSION);
	fprintf(b, "# HELP meshcut_supported 1 when meshcut runs on this node, 0 when the kernel refused it (the agent idles).\n# TYPE meshcut_supported gauge\nmeshcut_supported 1\n");
	fprintf(b, "# HELP meshcut_mode_enabled Shortcut modes switched on.\n# TYPE meshcut_mode_enabled gauge\n");
	fprintf(b, "meshcut_mode_enabled{mode=\"outbound\"} %d\n", !!(c.modes & MC_MODE_OUTBOUND));
	fprintf(b, "meshcut_mode_enabled{mode=\"inbound\"} %d\n", !!(c.modes & MC_MODE_INBOUND));
	fprintf(b, "meshcut_mode_enabled{mode=\"node\"} %d\n", !!(c.modes & MC_MODE_NODE));
	fprintf(b, "meshcut_mode_enabled{mode=\"cross\"} %d\n", !!(c.modes & MC_MODE_CROSS));
	fprintf(b, "# HELP meshcut_pods Registered pods.\n# TYPE meshcut_pods gauge\nmeshcut_pods %u\n", f.pods);
	fprintf(b, "# HELP meshcut_pairs_used Pair slots in use.\n# TYPE meshcut_pairs_used gauge\nmeshcut_pairs_used %u\n", f.pairs_used);
	fprintf(b, "# HELP meshcut_pairs_max Pair slots.\n# TYPE meshcut_pairs_max gauge\nmeshcut_pairs_max %u\n", f.pairs_max);
	fprintf(b, "# HELP meshcut_drain_backlog_bytes Redirected bytes not yet read in pairs leaving the shortcut.\n# TYPE meshcut_drain_backlog_bytes gauge\nmeshcut_drain_backlog_bytes %llu\n",
		(unsigned long long)a->last_drain.backlog_bytes);
	fprintf(b, "# HELP meshcut_drain_redirect_after_flip_total Pairs the drain found redirecting again after it had moved them to TCP (a datapath defect; flipped again, not deleted).\n# TYPE meshcut_drain_redirect_after_flip_total counter\nmeshcut_drain_redirect_after_flip_total %llu\n",
		(unsigned long long)__atomic_load_n(&a->drainer.redirect_after_flip, __ATOMIC_RELAXED));
	fprintf(b, "# HELP meshcut_sockets_total Sockets inserted in the SOCKHASH.\n# TYPE meshcut_sockets_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_sockets_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].sockets);
	fprintf(b, "# HELP meshcut_redirected_messages_total Messages moved socket to socket.\n# TYPE meshcut_redirected_messages_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_redirected_messages_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].msgs);
	fprintf(b, "# HELP meshcut_redirected_bytes_total Bytes moved socket to socket.\n# TYPE meshcut_redirected_bytes_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_redirected_bytes_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].bytes);
	fprintf(b, "# HELP meshcut_tcp_messages_total Messages of paired sockets that went over TCP.\n# TYPE meshcut_tcp_messages_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_tcp_messages_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].tcp_msgs);
	fprintf(b, "# HELP meshcut_fin_held_total FINs held until the receiver read every redirected byte.\n# TYPE meshcut_fin_held_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_fin_held_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].fin_held);
	fprintf(b, "# HELP meshcut_rst_unread_total Resets that discarded unread redirected bytes.\n# TYPE meshcut_rst_unread_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++)
		fprintf(b, "meshcut_rst_unread_total{pair=\"%s\"} %llu\n", mc_kind_name(k),
			(unsigned long long)s[k].rst_unread);
	fprintf(b, "# HELP meshcut_fallback_total Directions that left (or never took) the shortcut, by reason.\n# TYPE meshcut_fallback_total counter\n");
	for (k = 1; k < MC_KIND_MAX; k++) {
		for (r = 0; r < MC_TCP_REASONS; r++)
			fprintf(b, "meshcut_fallback_total{pair=\"%s\",reason=\"%s\"} %llu\n",
				mc_kind_name(k), reason_names[r], (unsigned long long)s[k].to_tcp[r]);
		fprintf(b, "meshcut_fallback_total{pair=\"%s\",reason=\"insert_fail\"} %llu\n",
			mc_kind_name(k), (unsigned long long)s[k].insert_fail);
		fprintf(b, "meshcut_fallback_total{pair=\"%s\",reason=\"no_slot\"} %llu\n",
			mc_kind_name(k), (unsigned long long)s[k].no_slot);
		fprintf(b, "meshcut_fallback_total{pair=\"%s\",reason=\"pod_quota\"} %llu\n",
			mc_kind_name(k), (unsigned long long)s[k].quota);
	}
	{
		char *parts[2] = {mc_tc_metrics_text(a), mc_monitor_metrics_text(a)};

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
