/* What the monitor's BPF side reports about itself (bpf_stats.h). */
#include "monitor/bpf_stats.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.skel.h"

/* memlock of a map we created (/proc/self/fdinfo) */
static long long map_bytes(int fd)
{
	char path[64], line[128];
	long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

json_t *mc_monitor_cost_json(struct monitor *skel, uint64_t requests, uint64_t events)
{
	json_t *progs = json_array();
	uint64_t total = 0, cnt = 0;
	struct bpf_program *p;

	bpf_object__for_each_program(p, skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_program__autoload(p) ||
		    bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
			continue;
		total += info.run_time_ns;
		cnt += info.run_cnt;
		json_array_append_new(progs, json_pack("{s:s, s:s, s:I, s:I, s:f}", "name",
						       bpf_program__name(p), "section",
						       bpf_program__section_name(p), "run_cnt",
						       (json_int_t)info.run_cnt, "run_time_ns",
						       (json_int_t)info.run_time_ns, "ns_per_run",
						       info.run_cnt ? (double)info.run_time_ns /
								      (double)info.run_cnt
								    : 0.0));
	}
	return json_pack("{s:o, s:I, s:I, s:f, s:f}", "programs", progs, "run_time_ns",
			 (json_int_t)total, "run_cnt", (json_int_t)cnt, "ns_per_request",
			 requests ? (double)total / (double)requests : 0.0, "ns_per_event",
			 events ? (double)total / (double)events : 0.0);
}

void mc_monitor_read_stats(struct monitor *skel, struct mc_mon_stats *sum)
{
	int ncpu = libbpf_num_possible_cpus(), c;
	struct mc_mon_stats *per;
	__u32 zero = 0;

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0 || !(per = calloc((size_t)ncpu, sizeof(*per))))
		return;
	if (!bpf_map_lookup_elem(bpf_map__fd(skel->maps.mc_mon_stats), &zero, per)) {
		for (c = 0; c < ncpu; c++) {
			sum->events += per[c].events;
			sum->dropped += per[c].dropped;
			sum->unregistered += per[c].unregistered;
			sum->exit_ts += per[c].exit_ts;
			sum->stashed += per[c].stashed;
		}
	}
	free(per);
}

json_t *mc_monitor_bpf_json(struct monitor *skel)
{
	struct mc_mon_stats st;
	long long bytes;

	mc_monitor_read_stats(skel, &st);
	bytes = map_bytes(bpf_map__fd(skel->maps.mc_mon_events)) +
		map_bytes(bpf_map__fd(skel->maps.mc_mon_stats)) +
		map_bytes(bpf_map__fd(skel->maps.mc_mon_tasks));
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "events", (json_int_t)st.events,
			 "dropped", (json_int_t)st.dropped, "unregistered_skipped",
			 (json_int_t)st.unregistered, "send_exit_time", (json_int_t)st.exit_ts,
			 "send_entries", (json_int_t)st.stashed, "map_bytes", (json_int_t)bytes);
}
