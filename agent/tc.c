/* The cross-node shortcut: not built yet (this stub does nothing). */
#include "tc.h"

int mc_tc_init(struct mc_agent *a)
{
	(void)a;
	return 0;
}

void mc_tc_fini(struct mc_agent *a)
{
	(void)a;
}

void mc_tc_pod_added(struct mc_agent *a, const struct mc_pod *pod)
{
	(void)a;
	(void)pod;
}

void mc_tc_pod_removed(struct mc_agent *a, const struct mc_pod *pod)
{
	(void)a;
	(void)pod;
}

int mc_tc_uninstall(const char *pin_dir)
{
	(void)pin_dir;
	return 0;
}

json_t *mc_tc_stats_json(struct mc_agent *a)
{
	(void)a;
	return json_object();
}

char *mc_tc_metrics_text(struct mc_agent *a)
{
	(void)a;
	return NULL;
}
