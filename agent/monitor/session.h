/*
 * The latency monitor (agent side): loads the monitor's BPF programs only while
 * a session runs, splits each request's time into proxy, kernel and app time,
 * and answers /v1/monitor. See bpf/monitor.h for the BPF contract.
 */
#ifndef MESHCUT_AGENT_MONITOR_SESSION_H
#define MESHCUT_AGENT_MONITOR_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct mc_agent;

/* nothing to set up before a session today (programs load per session): kept
 * so the lifecycle reads init/fini */
int mc_monitor_init(struct mc_agent *a);
void mc_monitor_fini(struct mc_agent *a);
/* end any session now: the agent's SIGTERM/SIGINT handler calls it
 * (async-signal-safe) */
void mc_monitor_shutdown(void);

/* /v1/monitor...: returns 1 when the url is the monitor's (status and reply
 * set; reply may be NULL for an empty body), 0 otherwise. Runs on the API's
 * per-connection thread: it may block for a session's duration. */
int mc_monitor_http(struct mc_agent *a, const char *method, const char *url, const char *body,
		    size_t len, unsigned int *status, json_t **reply);

/* Prometheus text for the monitor's histograms (malloc'd, may be NULL) */
char *mc_monitor_metrics_text(struct mc_agent *a);

/* Which of the monitor's programs load on this kernel with the given send
 * entry hook (enum mc_mon_entry_hook, bpf/monitor.h): the session's loader
 * and meshcut-agent --check choose the same way. */
struct monitor;
void mc_monitor_select_progs(struct monitor *skel, int entry_hook);
bool mc_monitor_events_on_tracepoints(void); /* else fexit on inet_*msg */

#endif
