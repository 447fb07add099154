/*
 * The socket shortcut's per-socket hooks follow the mode.
 *
 * Two of its hooks run for every socket of the node, paired or not: the
 * recv/send hooks (rw_hooks.h: the tracepoints fire at every recv() and
 * send() of the node) and the FIN gate (cgroup_skb/ingress: every packet the
 * node's sockets receive). Each leaves at once for a socket that is not in
 * the SOCKHASH, but the kernel's call into them is the cost: about 2% of a
 * two-CPU node at 100 concurrent requests in mode `cross` (docs/
 * socket-shortcut.md, "Which hooks, on which kernel"), where no socket is
 * ever paired.
 *
 * Only sockops puts a socket into the SOCKHASH, and only in a mode with a
 * socket bit (outbound, inbound, node). So the hooks are:
 *
 *   attached   at every start (as they always were: a datapath that could
 *              pair is never without them), and before a mode with a socket
 *              bit is set at runtime;
 *   released   at an agent tick, once (1) the mode has no socket bit, (2)
 *              every BPF program that was running has returned (a sockops
 *              run that read the old mode may still insert), and (3) after
 *              that the SOCKHASH is empty. Nothing can enter it again until a
 *              mode change, which attaches them first. A pair that left the
 *              shortcut stays in the SOCKHASH until its readers caught up and
 *              the drain deleted it: its bytes are counted to the end.
 *
 * Both run under the agent's lock (agent.h), so a mode change and a release
 * never interleave.
 */
#ifndef MESHCUT_AGENT_SOCKET_HOOKS_H
#define MESHCUT_AGENT_SOCKET_HOOKS_H

#include <stddef.h>

struct mc_datapath;

/* the recv/send hooks and the FIN gate attached (adopted links kept):
 * 0, or -errno with what failed in what */
int mc_socket_hooks_attach(struct mc_datapath *dp, int cgroup_fd, char *what, size_t whatlen);

/* the same, opening the datapath's cgroup: for a mode change at runtime
 * (every time: what is attached stays, what is missing is attached) */
int mc_socket_hooks_ensure(struct mc_datapath *dp);

/* release them when nothing can need them (see above): 1 when released now,
 * 0 when kept (or already released), -errno when waiting failed (kept) */
int mc_socket_hooks_tick(struct mc_datapath *dp);

#endif
