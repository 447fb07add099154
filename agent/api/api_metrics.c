/* Registration outcome counters: see api_metrics.h. */
#include "api/api_metrics.h"

#include <bpf/libbpf_version.h>

#include "config.h"
#include "prom.h"
#include "api/registry.h"

static const struct {
	const char *result, *reason;
} outcomes[MC_REG_OUTCOMES] = {
	[MC_REG_NEW] = {"accepted", "new"},
	[MC_REG_REFRESH] = {"accepted", "refresh"},
	[MC_REG_RATE_LIMITED] = {"rate_limited", "request_rate"},
	[MC_REG_UNIDENTIFIED] = {"refused", "unidentified_caller"},
	[MC_REG_BAD_REQUEST] = {"refused", "bad_request"},
	[MC_REG_HOST_NETNS] = {"refused", "host_netns"},
	[MC_REG_VERIFY] = {"refused", "verify_failed"},
	[MC_REG_CONFLICT] = {"refused", "address_conflict"},
	[MC_REG_FULL] = {"refused", "table_full"},
	[MC_REG_UNSUPPORTED] = {"refused", "unsupported"},
	[MC_REG_OTHER] = {"refused", "other"},
};

static unsigned long long counts[MC_REG_OUTCOMES];

void mc_reg_count(enum mc_reg_outcome o, int status)
{
	if (o == MC_REG_OTHER)
		o = status == 201   ? MC_REG_NEW
		    : status == 200 ? MC_REG_REFRESH
		    : status == 409 ? MC_REG_CONFLICT
		    : status == 507 ? MC_REG_FULL
		    : status == 429 ? MC_REG_RATE_LIMITED
				    : MC_REG_OTHER;
	if ((unsigned)o < MC_REG_OUTCOMES)
		__atomic_add_fetch(&counts[o], 1, __ATOMIC_RELAXED);
}

void mc_api_metrics(FILE *b, struct mc_agent *a)
{
	char labels[96];
	int i;

	snprintf(labels, sizeof(labels), "version=\"%s\",libbpf=\"%s\"", MESHCUT_VERSION,
		 LIBBPF_VERSION_STRING);
	mc_prom_family(b, "meshcut_build_info", "gauge",
		       "Always 1; the agent's version and the libbpf it was built with as labels.");
	mc_prom_u64(b, "meshcut_build_info", labels, 1);
	mc_prom_family(b, "meshcut_registrations_total", "counter",
		       "Pod registrations (POST /v1/pods) by result and reason.");
	for (i = 0; i < MC_REG_OUTCOMES; i++) {
		snprintf(labels, sizeof(labels), "result=\"%s\",reason=\"%s\"", outcomes[i].result,
			 outcomes[i].reason);
		mc_prom_u64(b, "meshcut_registrations_total", labels,
			    __atomic_load_n(&counts[i], __ATOMIC_RELAXED));
	}
	mc_prom_one(b, "meshcut_pods_registered", "gauge",
		    "Pods registered with this agent (its registry; 0 while it idles).",
		    a->dp.unsupported[0] ? 0 : mc_registry_count(&a->reg));
}
