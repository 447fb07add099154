/*
 * rtnetlink for the cross-node shortcut, beyond what lib/netlink.h offers
 * every binary (links, routes): the clsact filters of a device and the change
 * notifications the agent follows. No library: requests, checked reply walks
 * (only the kernel's answers to the request's sequence number). Every
 * function works in the caller's network namespace (the node's) and returns 0
 * or a negative errno.
 */
#ifndef MESHCUT_AGENT_TC_NL_H
#define MESHCUT_AGENT_TC_NL_H

#include <stdint.h>

struct tc_nl_filter {
	uint32_t parent;
	uint32_t handle;   /* 0: the message names a classifier instance, not a filter */
	uint16_t prio;
	char kind[16];
	uint32_t bpf_id;   /* cls_bpf: the program's id */
};

/* the filters of one tc parent of a device (clsact ingress: MC_TC_CLSACT_INGRESS) */
#define MC_TC_CLSACT_INGRESS 0xfffffff2u
#define MC_TC_CLSACT_EGRESS 0xfffffff3u
int tc_nl_filters(int ifindex, uint32_t parent,
		  int (*fn)(const struct tc_nl_filter *f, void *ctx), void *ctx);

/* change notifications: links and IPv4/IPv6 routes */
int tc_nl_monitor_open(void);
/* Read what is queued (non-blocking). For each message fn gets its type
 * (RTM_NEWLINK, RTM_DELLINK, RTM_NEWROUTE, ...) and, for links, the ifindex.
 * Returns 0, or -ENOBUFS when notifications were lost (resynchronise). */
int tc_nl_monitor_read(int fd, void (*fn)(int type, int ifindex, void *ctx), void *ctx);

#endif
