/* rtnetlink for the cross-node shortcut: see tc_nl.h. */
#include "crossnode/tc_nl.h"

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
