/* Minimal rtnetlink queries (no library: two requests, one attribute walk).
 * Used by meshcut-init (the pod's eth0: host veth ifindex, MAC) and the agent
 * (link state of host veths). */
#ifndef MESHCUT_NETLINK_H
#define MESHCUT_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct mc_link {
	int ifindex;
	int iflink;         /* IFLA_LINK: the peer's ifindex for a veth */
	int link_netnsid;   /* IFLA_LINK_NETNSID, -1 when the peer is in this netns */
	uint8_t mac[6];
	bool has_mac;
	char name[16];
	char kind[16];      /* IFLA_INFO_KIND: "veth", "bridge", ... */
};

/* by name (ifindex 0) or by ifindex, in the caller's network namespace */
int mc_nl_get_link(const char *name, int ifindex, struct mc_link *out);

#endif
