/* Minimal rtnetlink queries (no library: a request, a checked reply walk).
 * Used by meshcut-init (the pod's eth0: host veth ifindex, MAC) and the agent
 * (link state of host veths; registration verification, which reads another
 * network namespace's links and addresses by netnsid without entering it; the
 * cross-node shortcut's links and routes of the node).
 *
 * Every function opens its own netlink socket (thread-safe), accepts replies
 * only from the kernel with the request's sequence number, and returns 0 or a
 * negative errno (-ENODEV: no such interface). */
#ifndef MESHCUT_NETLINK_H
#define MESHCUT_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request being built: header, family header, attributes. For queries this
 * file does not offer (the agent's tc filter dump builds its own,
 * agent/crossnode/tc_nl.c). */
struct mc_nl_req {
	struct nlmsghdr nh;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
		struct rtgenmsg rtg;
		struct rtmsg rtm;
		struct tcmsg tcm;
	};
	char attrs[128];
};

void mc_nl_req_init(struct mc_nl_req *r, int type, int flags, size_t hdrlen);
/* append one attribute; -EINVAL when it does not fit */
int mc_nl_req_put(struct mc_nl_req *r, int type, const void *data, size_t len);
/* send it (strict: NETLINK_GET_STRICT_CHK) and call fn for every reply
 * message up to the ACK or NLMSG_DONE; 0, fn's first non-zero result, or a
 * negative errno (the kernel's error, -ETIMEDOUT, -EMSGSIZE) */
int mc_nl_talk(struct mc_nl_req *r, bool strict, int (*fn)(struct nlmsghdr *nh, void *ctx),
	       void *ctx);

/* netnsid meaning "the caller's own network namespace" */
#define MC_NL_SELF (-1)

struct mc_link {
	int ifindex;
	int iflink;         /* IFLA_LINK: the peer's ifindex for a veth */
	int link_netnsid;   /* IFLA_LINK_NETNSID, -1 when the peer is in this netns */
	unsigned int flags; /* IFF_* */
	int master;         /* IFLA_MASTER (a bridge), 0 when none */
	unsigned int mtu;   /* IFLA_MTU */
	uint8_t mac[6];
	bool has_mac;
	char name[16];
	char kind[16];      /* IFLA_INFO_KIND: "veth", "bridge", ... */
};

/* by name (ifindex 0) or by ifindex, in the caller's network namespace */
int mc_nl_get_link(const char *name, int ifindex, struct mc_link *out);

/* the same in the namespace known here as netnsid (MC_NL_SELF: our own), read
 * with IFLA_TARGET_NETNSID (needs CAP_NET_ADMIN over that namespace). The
 * reply must name the same target, or the call fails with -EPROTO. */
int mc_nl_get_link_in(int netnsid, const char *name, int ifindex, struct mc_link *out);

/* every link of the caller's network namespace (a dump); fn returns non-zero
 * to stop the walk (and that value is returned) */
int mc_nl_links(int (*fn)(const struct mc_link *l, void *ctx), void *ctx);

struct mc_nl_route {
	int family;        /* AF_INET, AF_INET6 */
	uint8_t dst[16];
	uint8_t dst_len;
	uint8_t type;      /* RTN_* */
	uint32_t table;
	int oif;           /* 0 for multipath routes */
};

/* every route of one family (all tables) in the caller's network namespace;
 * fn as for mc_nl_links */
int mc_nl_routes(int family, int (*fn)(const struct mc_nl_route *r, void *ctx), void *ctx);
/* the output device the FIB of the caller's namespace picks for addr (ip
 * route get); *oif is 0 when the answer names none */
int mc_nl_route_get(int family, const uint8_t *addr, int *oif);

/* The netnsid under which our network namespace knows the namespace nsfd
 * refers to (RTM_GETNSID, NETNSA_FD). With alloc, one is assigned
 * (RTM_NEWNSID, needs CAP_NET_ADMIN here) when there is none; without it, a
 * namespace with no id gives -ENOENT. */
int mc_nl_netnsid(int nsfd, bool alloc, int *nsid);

/* Every netnsid our network namespace has given to another namespace
 * (RTM_GETNSID dump): fn is called for each; a non-zero return stops the walk
 * and is returned. An id is listed for as long as its namespace lives: the
 * kernel frees it (and announces RTM_DELNSID on RTNLGRP_NSID) when that
 * namespace dies, and gives it to the next namespace that needs one (lowest
 * free id first). */
int mc_nl_nsids(int (*fn)(int nsid, void *ctx), void *ctx);

/* the NETNSA_NSID of an RTM_NEWNSID/RTM_DELNSID message (a reply or an
 * RTNLGRP_NSID notification): 0, or -EPROTO when it has none */
int mc_nl_nsid_of(const struct nlmsghdr *nh, int *nsid);

struct mc_nl_addr {
	int ifindex;
	int family;        /* AF_INET or AF_INET6 */
	uint8_t prefixlen;
	uint8_t scope;     /* RT_SCOPE_* */
	uint32_t flags;    /* IFA_F_* (IFA_FLAGS when present) */
	uint8_t addr[16];  /* 4 bytes for AF_INET */
};

/* Every address of one family (AF_INET, AF_INET6) configured in the namespace
 * netnsid (MC_NL_SELF: ours), read with IFA_TARGET_NETNSID. fn is called for
 * each; a non-zero return stops the walk and is returned. */
int mc_nl_get_addrs(int netnsid, int family, int (*fn)(const struct mc_nl_addr *a, void *ctx),
		    void *ctx);

#endif
