/* What the monitor's BPF side reports about itself: its per-CPU counters
 * (bpf/monitor.h), its maps' memory, and, while BPF run-time statistics are
 * on, each program's cost. Reads of a loaded skeleton; session.c calls them. */
#ifndef MESHCUT_AGENT_MONITOR_BPF_STATS_H
#define MESHCUT_AGENT_MONITOR_BPF_STATS_H

#include <jansson.h>
#include <linux/types.h> /* bpf/monitor.h uses the kernel's types */
#include <stdint.h>

#include "monitor.h" /* bpf/monitor.h: struct mc_mon_stats */

struct monitor;

/* the per-CPU counters, summed */
void mc_monitor_read_stats(struct monitor *skel, struct mc_mon_stats *sum);
/* {events, dropped, unregistered_skipped, send_exit_time, send_entries, map_bytes} */
json_t *mc_monitor_bpf_json(struct monitor *skel);
/* {programs: [...], run_time_ns, run_cnt, ns_per_request, ns_per_event} */
json_t *mc_monitor_cost_json(struct monitor *skel, uint64_t requests, uint64_t events);

#endif
