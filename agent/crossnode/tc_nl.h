/*
 * rtnetlink for the cross-node shortcut: what the agent learns from the node
 * (links, routes, clsact filters) and the change notifications it follows.
 * No library: requests, checked reply walks (only the kernel's answers to the
 * request's sequence number). Every function works in the caller's network
 * namespace (the node's) and returns 0 or a negative errno.
 */
#ifndef MESHCUT_AGENT_TC_NL_H
#define MESHCUT_AGENT_TC_NL_H

#include <stdbool.h>
#include <stdint.h>

struct tc_nl_link {
	int ifindex;
	int master;        /* IFLA_MASTER (a bridge), 0 when none */
	unsigned int flags; /* IFF_* */
	unsigned int mtu;
	uint8_t mac[6];
	bool has_mac;
	char name[16];
	char kind[16];     /* IFLA_INFO_KIND: "veth", "vxlan", "bridge", ... */
};

/* every link; fn returns non-zero to stop (and that value is returned) */
int tc_nl_links(int (*fn)(const struct tc_nl_link *l, void *ctx), void *ctx);
/* one link by ifindex (-ENODEV when there is none) */
int tc_nl_link(int ifindex, struct tc_nl_link *out);

struct tc_nl_route {
	int family;        /* AF_INET, AF_INET6 */
	uint8_t dst[16];
	uint8_t dst_len;
	uint8_t type;      /* RTN_* */
	uint32_t table;
	int oif;           /* 0 for multipath routes */
};

/* every route of one family (all tables); fn as for tc_nl_links */
int tc_nl_routes(int family, int (*fn)(const struct tc_nl_route *r, void *ctx), void *ctx);
/* the output device the node's FIB picks for addr (ip route get) */
int tc_nl_route_get(int family, const uint8_t *addr, int *oif);

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
