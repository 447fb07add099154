/*
 * The cross-node shortcut (agent side): tc programs on each registered pod's
 * host veth and on the overlay device, attached with tcx where the kernel has
 * it (clsact otherwise), so a pod's packets to a remote pod skip the bridge
 * and the node's forwarding path. See bpf/tc_shortcut.h for the BPF contract.
 * Every function fails open: an error leaves the host path as it was.
 */
#ifndef MESHCUT_AGENT_TC_H
#define MESHCUT_AGENT_TC_H

#include <jansson.h>
#include <linux/types.h>
#include "pods.h"

struct mc_agent;

int mc_tc_init(struct mc_agent *a);         /* load or adopt; attach to the overlay */
void mc_tc_fini(struct mc_agent *a);        /* release handles; attachments stay */
void mc_tc_pod_added(struct mc_agent *a, const struct mc_pod *pod);   /* attach to its veth */
void mc_tc_pod_removed(struct mc_agent *a, const struct mc_pod *pod); /* detach, forget */
int mc_tc_uninstall(const char *pin_dir);   /* detach and unpin only what meshcut made */
json_t *mc_tc_stats_json(struct mc_agent *a);
char *mc_tc_metrics_text(struct mc_agent *a);
/* what the cross-node shortcut runs without on this kernel, found when it
 * attached (NULL: nothing; for meshcut status) */
const char *mc_tc_degraded(void);

#endif
