/* The latency monitor: not built yet (this stub answers 501). */
#include "monitor.h"

int mc_monitor_init(struct mc_agent *a)
{
	(void)a;
	return 0;
}

void mc_monitor_fini(struct mc_agent *a)
{
	(void)a;
}

int mc_monitor_http(struct mc_agent *a, const char *method, const char *url, const char *body,
		    size_t len, unsigned int *status, json_t **reply)
{
	(void)a;
	(void)method;
	(void)body;
	(void)len;
	if (__builtin_strncmp(url, "/v1/monitor", 11))
		return 0;
	*status = 501;
	*reply = json_pack("{s:s, s:i}", "error", "the latency monitor is not built yet", "status", 501);
	return 1;
}

char *mc_monitor_metrics_text(struct mc_agent *a)
{
	(void)a;
	return NULL;
}
