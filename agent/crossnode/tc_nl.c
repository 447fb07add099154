/* rtnetlink for the cross-node shortcut: see tc_nl.h. */
#include "tc_nl.h"

#include "netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF (64 * 1024)

static void copy_str(char *dst, size_t n, const struct rtattr *a)
{
	size_t len = RTA_PAYLOAD(a);

	if (len >= n)
		len = n - 1;
	memcpy(dst, RTA_DATA(a), len);
	dst[len] = '\0';
	dst[strnlen(dst, len)] = '\0';
}

/* ---------------------------------------------------------------- links */

static int parse_link(struct nlmsghdr *nh, struct tc_nl_link *l)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));
	struct rtattr *a;

	if (nh->nlmsg_type != RTM_NEWLINK || len < 0)
		return -1;
	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFLA_IFNAME:
			copy_str(l->name, sizeof(l->name), a);
			break;
		case IFLA_MASTER:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&l->master, RTA_DATA(a), 4);
			break;
		case IFLA_MTU:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&l->mtu, RTA_DATA(a), 4);
			break;
		case IFLA_ADDRESS:
			if (RTA_PAYLOAD(a) == 6) {
				memcpy(l->mac, RTA_DATA(a), 6);
				l->has_mac = true;
			}
			break;
		case IFLA_LINKINFO: {
			int ilen = (int)RTA_PAYLOAD(a);
			struct rtattr *i;

			for (i = RTA_DATA(a); RTA_OK(i, ilen); i = RTA_NEXT(i, ilen))
				if (i->rta_type == IFLA_INFO_KIND)
					copy_str(l->kind, sizeof(l->kind), i);
			break;
		}
		}
	}
	return 0;
}

struct links_ctx {
	int (*fn)(const struct tc_nl_link *l, void *ctx);
	void *ctx;
};

static int links_cb(struct nlmsghdr *nh, void *vctx)
{
	struct links_ctx *c = vctx;
	struct tc_nl_link l;

	if (parse_link(nh, &l))
		return 0;
	return c->fn(&l, c->ctx);
}

int tc_nl_links(int (*fn)(const struct tc_nl_link *l, void *ctx), void *ctx)
{
	struct links_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req r;

	mc_nl_req_init(&r, RTM_GETLINK, NLM_F_DUMP, sizeof(struct ifinfomsg));
	r.ifi.ifi_family = AF_UNSPEC;
	return mc_nl_talk(&r, false, links_cb, &c);
}

static int link_cb(struct nlmsghdr *nh, void *ctx)
{
	parse_link(nh, ctx);
	return 0;
}

int tc_nl_link(int ifindex, struct tc_nl_link *out)
{
	struct mc_nl_req r;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(out, 0, sizeof(*out));
	mc_nl_req_init(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
	r.ifi.ifi_family = AF_UNSPEC;
	r.ifi.ifi_index = ifindex;
	rc = mc_nl_talk(&r, false, link_cb, out);
	if (rc)
		return rc;
	return out->ifindex == ifindex ? 0 : -ENODEV;
}

/* ---------------------------------------------------------------- routes */

static int parse_route(struct nlmsghdr *nh, struct tc_nl_route *rt)
{
	struct rtmsg *rtm = NLMSG_DATA(nh);
	int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*rtm));
	struct rtattr *a;
	size_t alen;

	if (nh->nlmsg_type != RTM_NEWROUTE || len < 0)
		return -1;
	memset(rt, 0, sizeof(*rt));
	rt->family = rtm->rtm_family;
	rt->dst_len = rtm->rtm_dst_len;
	rt->type = rtm->rtm_type;
	rt->table = rtm->rtm_table;
	alen = rt->family == AF_INET ? 4 : 16;
	for (a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case RTA_DST:
			if (RTA_PAYLOAD(a) == alen)
				memcpy(rt->dst, RTA_DATA(a), alen);
			break;
		case RTA_OIF:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&rt->oif, RTA_DATA(a), 4);
			break;
		case RTA_TABLE:
			if (RTA_PAYLOAD(a) >= 4)
				memcpy(&rt->table, RTA_DATA(a), 4);
			break;
		}
	}
	return 0;
}

struct routes_ctx {
	int (*fn)(const struct tc_nl_route *r, void *ctx);
	void *ctx;
};

static int routes_cb(struct nlmsghdr *nh, void *vctx)
{
	struct routes_ctx *c = vctx;
	struct tc_nl_route rt;

	if (parse_route(nh, &rt))
		return 0;
	return c->fn(&rt, c->ctx);
}

int tc_nl_routes(int family, int (*fn)(const struct tc_nl_route *r, void *ctx), void *ctx)
{
	struct routes_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req r;

	mc_nl_req_init(&r, RTM_GETROUTE, NLM_F_DUMP, sizeof(struct rtmsg));
	r.rtm.rtm_family = (unsigned char)family;
	return mc_nl_talk(&r, false, routes_cb, &c);
}

static int route_get_cb(struct nlmsghdr *nh, void *ctx)
{
	struct tc_nl_route rt;

	if (parse_route(nh, &rt) == 0)
		*(int *)ctx = rt.oif;
	return 0;
}

int tc_nl_route_get(int family, const uint8_t *addr, int *oif)
{
	struct mc_nl_req r;
	size_t alen = family == AF_INET ? 4 : 16;

	*oif = 0;
	mc_nl_req_init(&r, RTM_GETROUTE, 0, sizeof(struct rtmsg));
	r.rtm.rtm_family = (unsigned char)family;
	r.rtm.rtm_dst_len = (unsigned char)(alen * 8);
	if (mc_nl_req_put(&r, RTA_DST, addr, alen))
		return -EINVAL;
	return mc_nl_talk(&r, false, route_get_cb, oif);
}

/* ---------------------------------------------------------------- filters */

struct filters_ctx {
	int (*fn)(const struct tc_nl_filter *f, void *ctx);
	void *ctx;
};

static int filters_cb(struct nlmsghdr *nh, void *vctx)
{
	struct filters_ctx *c = vctx;
	struct tcmsg *t = NLMSG_DATA(nh);
	int len = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*t));
	struct tc_nl_filter f = {0};
	struct rtattr *a;

	if (nh->nlmsg_type != RTM_NEWTFILTER || len < 0)
		return 0;
	f.parent = t->tcm_parent;
	f.handle = t->tcm_handle;
	f.prio = (uint16_t)(t->tcm_info >> 16);
	for (a = (struct rtattr *)((char *)t + NLMSG_ALIGN(sizeof(*t))); RTA_OK(a, len);
	     a = RTA_NEXT(a, len)) {
		if (a->rta_type == TCA_KIND) {
			copy_str(f.kind, sizeof(f.kind), a);
		} else if (a->rta_type == TCA_OPTIONS) {
			int olen = (int)RTA_PAYLOAD(a);
			struct rtattr *o;

			for (o = RTA_DATA(a); RTA_OK(o, olen); o = RTA_NEXT(o, olen))
				if (o->rta_type == TCA_BPF_ID && RTA_PAYLOAD(o) >= 4)
					memcpy(&f.bpf_id, RTA_DATA(o), 4);
		}
	}
	return c->fn(&f, c->ctx);
}

int tc_nl_filters(int ifindex, uint32_t parent,
		  int (*fn)(const struct tc_nl_filter *f, void *ctx), void *ctx)
{
	struct filters_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req r;

	mc_nl_req_init(&r, RTM_GETTFILTER, NLM_F_DUMP, sizeof(struct tcmsg));
	r.tcm.tcm_family = AF_UNSPEC;
	r.tcm.tcm_ifindex = ifindex;
	r.tcm.tcm_parent = parent;
	return mc_nl_talk(&r, false, filters_cb, &c);
}

/* ---------------------------------------------------------------- monitor */

int tc_nl_monitor_open(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK,
				 .nl_groups = RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE};
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	int size = 1 << 20;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int tc_nl_monitor_read(int fd, void (*fn)(int type, int ifindex, void *ctx), void *ctx)
{
	char *buf = malloc(NL_BUF);
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		struct nlmsghdr *nh;
		ssize_t n = recvfrom(fd, buf, NL_BUF, 0, (struct sockaddr *)&from, &fromlen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				rc = -ENOBUFS;
			break; /* EAGAIN: all read */
		}
		if (from.nl_pid != 0)
			continue;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n); nh = NLMSG_NEXT(nh, n)) {
			int ifindex = 0;

			if (nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) {
				struct ifinfomsg *ifi = NLMSG_DATA(nh);

				if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*ifi)))
					ifindex = ifi->ifi_index;
			}
			fn(nh->nlmsg_type, ifindex, ctx);
		}
	}
	free(buf);
	return rc;
}
