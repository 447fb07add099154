/*
 * Pod deletion: when a pod goes, its host veth disappears from the node. The
 * agent listens for link deletions (rtnetlink) and removes the registration of
 * the pod whose host_ifindex it was; at start it drops registrations whose veth
 * is already gone (pods deleted while the agent was down). No SOCKHASH surgery
 * is needed: the pod's sockets closed and left by themselves.
 */
#ifndef MESHCUT_AGENT_PODWATCH_H
#define MESHCUT_AGENT_PODWATCH_H

struct mc_agent;

/* drop registrations whose host veth no longer exists; returns how many */
int mc_podwatch_reconcile(struct mc_agent *a);
/* start the listener thread (0, or -errno: the agent runs on without it) */
int mc_podwatch_start(struct mc_agent *a);
void mc_podwatch_stop(void);

#endif
