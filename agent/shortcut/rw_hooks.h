/*
 * The hooks that see a recv() and a send() of a paired socket return: the
 * recv accounting (what each reader consumed) and the send settlement (what
 * each send() counted and did not deliver). Two sets run the same code
 * (bpf/sock_shortcut.bpf.c: on_recv, on_send):
 *
 *   tracepoints  tp_btf/sock_recv_length, tp_btf/sock_send_length: every
 *                recv and send on the node (the kernels that have them, 6.3+)
 *   fexit        fexit/tcp_bpf_recvmsg (and _parser), fexit/tcp_bpf_sendmsg
 *                (and tcp_bpf_sendpage where the kernel still has it): only
 *                sockets in a SOCKHASH run these (6.1)
 *
 * The set is chosen from the kernel's BTF before the load (tracepoints when
 * the kernel has both); the load and the attach then prove whether the kernel
 * really lets them run (fexit needs an ftrace that is not locked down).
 */
#ifndef MESHCUT_AGENT_RW_HOOKS_H
#define MESHCUT_AGENT_RW_HOOKS_H

#include <stddef.h>

struct bpf_object;

enum mc_rw_hooks { MC_RW_NONE = 0, MC_RW_TRACEPOINTS, MC_RW_FEXIT };

const char *mc_rw_hooks_name(enum mc_rw_hooks h);

/* Before the load: pick the set the kernel offers and load only its
 * programs. MC_RW_NONE, and why, when it offers neither. */
enum mc_rw_hooks mc_rw_hooks_choose(struct bpf_object *obj, char *why, size_t whylen);

/* Load only the programs of this set (those whose target the kernel has) */
void mc_rw_hooks_select(struct bpf_object *obj, enum mc_rw_hooks set);

/* After the load: attach the set's programs, each pinned as a link in dir (an
 * adopted link that runs the same program is kept). 0, or -errno with the
 * hook that failed in what. */
int mc_rw_hooks_attach(struct bpf_object *obj, enum mc_rw_hooks h, const char *dir, char *what,
		       size_t whatlen);

/* every hook's pinned link in dir dropped (socket_hooks.h: no socket mode,
 * no socket in the shortcut) */
void mc_rw_hooks_release(const char *dir);

#endif
