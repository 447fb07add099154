/*
 * The cross-node shortcut's node configuration, read from the agent's
 * environment (the DaemonSet's env; per node where nodes differ):
 *
 *   MESHCUT_CROSS_KEEP_HOST_POLICY  on|off (default off). on: new cross-node
 *        flows keep the host path (bridge, FORWARD, conntrack), so NetworkPolicy
 *        enforced with host netfilter applies to them.
 *   MESHCUT_CROSS_HOST_CIDRS        CIDRs (comma-separated): flows with either
 *        end inside keep the host path, whatever the switch says.
 *   MESHCUT_CROSS_SHORTCUT_CIDRS    CIDRs: with keep-host-policy on, flows with
 *        either end inside may still take the shortcut (HOST CIDRs win).
 *   MESHCUT_CROSS_OVERLAY           overlay device names (comma-separated);
 *        default: every vxlan and geneve device of the node.
 *
 * A value that does not parse fails closed: keep-host-policy on, no shortcut
 * CIDRs, and the error is reported.
 */
#ifndef MESHCUT_AGENT_TC_CONFIG_H
#define MESHCUT_AGENT_TC_CONFIG_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include "pods.h"

#define MC_TC_CFG_CIDRS 64
#define MC_TC_CFG_OVERLAYS 8

struct mc_tc_opts {
	bool keep_host_policy;
	struct mc_cidr host_cidrs[MC_TC_CFG_CIDRS];
	size_t n_host;
	struct mc_cidr shortcut_cidrs[MC_TC_CFG_CIDRS];
	size_t n_shortcut;
	char overlays[MC_TC_CFG_OVERLAYS][16]; /* none: every vxlan/geneve device */
	size_t n_overlays;
	bool failed_closed; /* a value did not parse: see error */
	char error[200];
};

/* from the four values (NULL = unset); never fails: on a bad value the
 * options fail closed and error says why */
void mc_tc_opts_parse(const char *keep, const char *host_cidrs, const char *shortcut_cidrs,
		      const char *overlays, struct mc_tc_opts *o);
void mc_tc_opts_from_env(struct mc_tc_opts *o);

/* "10.244.0.0/16" from the 128-bit form */
const char *mc_tc_cidr_string(const struct mc_cidr *c, char *buf, size_t len);

#endif
