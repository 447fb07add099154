/* The reconstruction's names and JSON report (recon.h: mc_recon_report). */
#include "monitor/recon_int.h"

#include <stdio.h>
#include <string.h>

const char *const hh_name[HOP_HISTS] = {"total", "proxy_out", "proxy_in", "kernel", "app"};
const char *const fail_name[F_REASONS] = {"socket_evicted", "send_not_kept", "numbering",
						 "no_receive_before_send", "no_peer", "hops_mixed",
						 "too_long", "send_event_missing", "queue_full",
						 "in_flight_at_end"};

const char *mc_cat_name(enum mc_cat c)
{
	static const char *const n[MC_CATS] = {"proxy", "kernel", "app", "remote"};

	return c < MC_CATS ? n[c] : "total";
}

const char *mc_part_name(enum mc_part p)
{
	static const char *const n[MC_PARTS] = {"proxy_out",   "proxy_in",     "kernel_out",
						"kernel_node", "kernel_in",    "kernel_other",
						"app",         "remote",       "nested"};

	return p < MC_PARTS ? n[p] : "?";
}

enum mc_cat mc_part_cat(enum mc_part p)
{
	switch (p) {
	case MC_PART_PROXY_OUT:
	case MC_PART_PROXY_IN:
		return MC_CAT_PROXY;
	case MC_PART_KERNEL_OUT:
	case MC_PART_KERNEL_NODE:
	case MC_PART_KERNEL_IN:
	case MC_PART_KERNEL_OTHER:
		return MC_CAT_KERNEL;
	case MC_PART_APP:
		return MC_CAT_APP;
	case MC_PART_REMOTE:
		return MC_CAT_REMOTE;
	default:
		return MC_CATS;
	}
}

static double us(double ns)
{
	return (double)(int64_t)(ns / 10.0 + (ns >= 0 ? 0.5 : -0.5)) / 100.0; /* 0.01 us */
}

static json_t *hist_json(const struct mc_hist *h)
{
	return json_pack("{s:f, s:f, s:f, s:f, s:f}", "mean_us", us(mc_hist_mean_ns(h)), "p50_us",
			 us((double)mc_hist_percentile(h, 50)), "p90_us",
			 us((double)mc_hist_percentile(h, 90)), "p99_us",
			 us((double)mc_hist_percentile(h, 99)), "max_us", us((double)h->max_ns));
}

static void addr_str(const struct mc_addr *a, uint16_t port, char *buf, size_t len)
{
	const uint8_t *b = (const uint8_t *)a;

	if (a->w[0] == 0 && a->w[1] == 0 && a->w[2] == __builtin_bswap32(0xffff))
		snprintf(buf, len, "%u.%u.%u.%u:%u", b[12], b[13], b[14], b[15], port);
	else
		snprintf(buf, len, "[%x:%x:%x:%x:%x:%x:%x:%x]:%u", b[0] << 8 | b[1], b[2] << 8 | b[3],
			 b[4] << 8 | b[5], b[6] << 8 | b[7], b[8] << 8 | b[9], b[10] << 8 | b[11],
			 b[12] << 8 | b[13], b[14] << 8 | b[15], port);
}

static const char *pod_name(mc_pod_namer namer, void *ctx, uint32_t id, char *buf, size_t len)
{
	const char *n = namer ? namer(ctx, id) : NULL;

	if (n)
		return n;
	snprintf(buf, len, "pod#%u", id);
	return buf;
}

json_t *mc_recon_report(const struct mc_recon *r, mc_pod_namer namer, void *ctx)
{
	json_t *o, *cats, *hops, *pods;
	double total_sum = (double)r->total.sum_ns;
	char nbuf[2][48], svc[64];
	uint32_t i;
	int k;

	cats = json_object();
	for (k = 0; k < MC_CATS; k++) {
		json_t *c = hist_json(&r->cat[k]);

		json_object_set_new(c, "share",
				    json_real(total_sum > 0 ? (double)r->cat[k].sum_ns / total_sum : 0.0));
		json_object_set_new(cats, mc_cat_name((enum mc_cat)k), c);
	}
	hops = json_array();
	for (i = 0; i < r->nhops; i++) {
		const struct hopstat *h = &r->hops[i];
		json_t *hj, *parts = json_object(), *med = json_object();
		double calls = (double)h->calls;
		double cat[MC_CATS] = {0};

		if (!h->calls)
			continue;
		for (k = 0; k < MC_PARTS; k++) {
			enum mc_cat c = mc_part_cat((enum mc_part)k);

			json_object_set_new(parts, mc_part_name((enum mc_part)k),
					    json_real(us((double)h->part_ns[k] / calls)));
			if (c < MC_CATS)
				cat[c] += (double)h->part_ns[k];
		}
		addr_str(&h->svc, h->svc_port, svc, sizeof(svc));
		hj = json_pack("{s:s, s:s, s:s, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}",
			       "client", pod_name(namer, ctx, h->client_pod, nbuf[0], sizeof(nbuf[0])),
			       "server",
			       h->server_pod ? pod_name(namer, ctx, h->server_pod, nbuf[1], sizeof(nbuf[1]))
					     : "(not on this node)",
			       "service", svc, "calls", (json_int_t)h->calls, "per_request",
			       r->c.requests ? calls / (double)r->c.requests : 0.0, "mean_us",
			       us(mc_hist_mean_ns(&h->h[HH_TOTAL])), "p50_us",
			       us((double)mc_hist_percentile(&h->h[HH_TOTAL], 50)), "p99_us",
			       us((double)mc_hist_percentile(&h->h[HH_TOTAL], 99)), "proxy_us",
			       us(cat[MC_CAT_PROXY] / calls), "kernel_us", us(cat[MC_CAT_KERNEL] / calls),
			       "app_us", us(cat[MC_CAT_APP] / calls), "remote_us",
			       us(cat[MC_CAT_REMOTE] / calls), "nested_us",
			       us((double)h->part_ns[MC_PART_NESTED] / calls), "parts_us", parts);
		for (k = 0; k < HOP_HISTS; k++)
			json_object_set_new(med, hh_name[k],
					    json_real(us((double)mc_hist_percentile(&h->h[k], 50))));
		if (hj) {
			json_object_set_new(hj, "median_us", med);
			json_array_append_new(hops, hj);
		} else {
			json_decref(med);
		}
	}
	pods = json_object();
	for (i = 0; i < POD_SLOTS; i++) {
		if (!r->pods[i].events)
			continue;
		json_object_set_new(pods, pod_name(namer, ctx, r->pods[i].pod_id, nbuf[0], sizeof(nbuf[0])),
				    json_pack("{s:I}", "events", (json_int_t)r->pods[i].events));
	}
	o = json_pack("{s:I, s:o, s:o, s:o, s:o}", "requests", (json_int_t)r->c.requests, "total",
		      hist_json(&r->total), "categories", cats, "hops", hops, "pods", pods);
	json_object_set_new(
		o, "reconstruction",
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i, s:I}", "events",
			  (json_int_t)r->c.events, "send_exit_time_events",
			  (json_int_t)r->c.exit_ts_events, "incomplete", (json_int_t)r->c.incomplete,
			  "nested_exchanges", (json_int_t)r->c.nested_exchanges, "walk_retries",
			  (json_int_t)r->c.walk_retries, "realigned", (json_int_t)r->c.realigned,
			  "evicted_sockets", (json_int_t)r->c.evicted_sockets, "evicted_threads",
			  (json_int_t)r->c.evicted_threads, "pending_dropped",
			  (json_int_t)r->c.pending_dropped, "sockets", (int)r->sock_ix.used, "threads",
			  (int)r->thr_ix.used, "memory_bytes", (json_int_t)mc_recon_memory(r)));
	{
		json_t *fr = json_object();

		for (i = 0; i < F_REASONS; i++)
			if (r->fails[i])
				json_object_set_new(fr, fail_name[i], json_integer((json_int_t)r->fails[i]));
		json_object_set_new(json_object_get(o, "reconstruction"), "incomplete_by_reason", fr);
		fr = json_object();
		for (k = 1; k < MC_MON_ROLES; k++) {
			char key[8];

			snprintf(key, sizeof(key), "%d", k);
			json_object_set_new(fr, key,
					    json_pack("{s:I, s:I}", "events",
						      (json_int_t)r->events_by_role[k], "peer_not_found",
						      (json_int_t)r->no_peer[k]));
		}
		json_object_set_new(json_object_get(o, "reconstruction"), "by_socket_role", fr);
	}
	return o;
}
