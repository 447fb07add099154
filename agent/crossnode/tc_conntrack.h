/*
 * Handing a live cross-node flow back to the host's conntrack.
 *
 * A flow the tc shortcut took was never seen by the node's conntrack (both
 * of its directions skip the forwarding path). When such a flow leaves the
 * shortcut while it lives (uninstall, its pod's veth released or gone), its
 * next packets take the host path. conntrack picks up data and ACKs in the
 * middle of a connection (nf_conntrack_tcp_loose), but calls a FIN or an RST
 * that comes first INVALID, and kube-proxy's `ctstate INVALID -j DROP` drops
 * it: an idle keep-alive connection closed after that never tells its peer.
 *
 * So before a live flow leaves, the agent creates its conntrack entry over
 * ctnetlink (libnetfilter_conntrack), in the node's network namespace:
 * ESTABLISHED, seen both ways and assured, with window tracking off for it
 * (IP_CT_TCP_FLAG_BE_LIBERAL: conntrack never saw the sequence numbers), and
 * conntrack's established timeout. The originator is whoever sent the SYN
 * (MC_TC_FLOW_FROM_OVL). Closed flows are not handed over: what is left of
 * them are ACKs, which conntrack picks up anyway. An entry that already
 * exists is left as it is. Zone 0, no mark: what a CNI that uses conntrack
 * zones or marks for pod traffic expects is not known here.
 *
 * Fail open: an error leaves the flow as it was before this existed (its
 * close may then be dropped and the connection end by timeouts); it is
 * counted and logged, never fatal.
 */
#ifndef MESHCUT_AGENT_TC_CONNTRACK_H
#define MESHCUT_AGENT_TC_CONNTRACK_H

#include <linux/types.h>
#include <stdint.h>

#include "tc_shortcut.h"

struct mc_ct;

/* conntrack's established timeout in the current network namespace
 * (nf_conntrack_tcp_timeout_established; the kernel's default if unreadable) */
uint32_t mc_ct_established_timeout_s(void);

/* a ctnetlink handle in the calling thread's current network namespace, or
 * NULL (errno set) */
struct mc_ct *mc_ct_open(void);
void mc_ct_close(struct mc_ct *ct);

/* 1 when the flow's entry was created, 0 when there was nothing to do (a
 * closed flow, or conntrack already tracks it), -errno on failure */
int mc_ct_handover(struct mc_ct *ct, const struct mc_tc_flow_key *k, const struct mc_tc_flow *f);

#endif
