/* Registration outcomes, counted for /metrics (meshcut_registrations_total).
 * The labels are fixed words: never a pod's name, IP, MAC or netns cookie. */
#ifndef MESHCUT_AGENT_API_METRICS_H
#define MESHCUT_AGENT_API_METRICS_H

#include <stdio.h>

#include "agent.h"

enum mc_reg_outcome {
	MC_REG_NEW,          /* accepted: a new registration (201) */
	MC_REG_REFRESH,      /* accepted: the same pod again (200) */
	MC_REG_RATE_LIMITED, /* the caller's namespace is over its request rate (429) */
	MC_REG_UNIDENTIFIED, /* refused: the caller's netns cannot be read */
	MC_REG_BAD_REQUEST,  /* refused: not a registration (400) */
	MC_REG_HOST_NETNS,   /* refused: from the node's own namespace */
	MC_REG_VERIFY,       /* refused: the claim does not match the caller's namespace */
	MC_REG_CONFLICT,     /* refused: an address another live pod holds (409) */
	MC_REG_FULL,         /* refused: the node's pod or address tables are full (507) */
	MC_REG_UNSUPPORTED,  /* refused: the agent idles, the kernel refused meshcut */
	MC_REG_OTHER,        /* refused: any other status */
	MC_REG_OUTCOMES
};

/* count one POST /v1/pods; STATUS picks the outcome where it decides it
 * (MC_REG_OTHER with a status: 200/201 accepted, 409, 507, else refused) */
void mc_reg_count(enum mc_reg_outcome o, int status);

/* meshcut_registrations_total, meshcut_pods_registered, meshcut_build_info */
void mc_api_metrics(FILE *b, struct mc_agent *a);

#endif
