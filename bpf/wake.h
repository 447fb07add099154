/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Contract: waking the readers of sockets that left the shortcut
 * (agent/shortcut/waker.c -> wake.bpf.c).
 *
 * The agent puts the cookie of every socket its drain deleted from the
 * SOCKHASH into mc_wake_socks, then walks the TCP sockets of each pod's
 * network namespace with wake.bpf.c's iterator. For a socket in the map the
 * program sets SO_RCVLOWAT to the value it already has: the kernel's
 * tcp_set_rcvlowat() then calls tcp_data_ready(), which wakes the socket's
 * readers when bytes wait. That gives an edge-triggered reader the edge that
 * the redirected bytes took (docs/semantics.md). A woken socket leaves the map.
 */
#ifndef MESHCUT_WAKE_H
#define MESHCUT_WAKE_H

#define MC_WAKE_MAX 4096 /* sockets in the map at once: a pass takes more in turns */

#endif
