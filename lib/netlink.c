/* Minimal rtnetlink queries: see netlink.h. */
#include "netlink.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif
#ifndef RTEXT_FILTER_SKIP_STATS
#define RTEXT_FILTER_SKIP_STATS (1 << 3)
#endif

void mc_nl_req_init(struct mc_nl_req *r, int type, int flags, size_t hdrlen)
{
	memset(r, 0, sizeof(*r));
	r->nh.nlmsg_len = NLMSG_LENGTH(hdrlen);
	r->nh.nlmsg_type = (unsigned short)type;
	r->nh.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | flags);
}

int mc_nl_req_put(struct mc_nl_req *r, int type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(r->nh.nlmsg_len);
	struct rtattr *a = (struct rtattr *)((char *)r + off);

	if (off + RTA_SPACE(len) > sizeof(*r))
		return -EINVAL;
	a->rta_type = (unsigned short)type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(a), data, len);
	r->nh.nlmsg_len = (uint32_t)(off + RTA_ALIGN(a->rta_len));
	return 0;
}

static int nl_put_s32(struct mc_nl_req *m, int type, int32_t v)
{
	return mc_nl_req_put(m, type, &v, sizeof(v));
}

static bool rta_s32(const struct rtattr *a, int32_t *v)
{
	if (RTA_PAYLOAD(a) < sizeof(*v))
		return false;
	memcpy(v, RTA_DATA(a), sizeof(*v));
	return true;
}

/* Send the request and walk every reply message until the final ACK (doit
 * requests carry NLM_F_ACK) or NLMSG_DONE (dumps). Only the kernel's replies
 * to this very request are read; a reply that does not fit the buffer is an
 * error, never a silently shortened answer. */
int mc_nl_talk(struct mc_nl_req *req, bool strict, int (*fn)(struct nlmsghdr *nh, void *ctx),
	       void *ctx)
{
	enum { BUF = 64 * 1024 };
	static unsigned int seq;
	static const struct timeval tmo = {.tv_sec = 3};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	bool dump = req->nh.nlmsg_flags & NLM_F_DUMP;
	int fd, one = 1, rc = 0;
	char *buf;

	buf = malloc(BUF);
	if (!buf)
		return -ENOMEM;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	/* strict checking: the kernel refuses attributes it would ignore */
	if (strict)
		setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	req->nh.nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	if (!dump)
		req->nh.nlmsg_flags |= NLM_F_ACK;
	if (sendto(fd, req, req->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		rc = -errno;
		goto out;
	}
	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		struct nlmsghdr *nh;
		ssize_t n;

		n = recvfrom(fd, buf, BUF, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		if (n > BUF) {
			rc = -EMSGSIZE;
			goto out;
		}
		if (from.nl_pid != 0)
			continue; /* not the kernel */
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_seq != req->nh.nlmsg_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE)
				goto out;
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					rc = -EPROTO;
				else if (e->error)
					rc = e->error;
				goto out; /* an ACK (error 0) ends a doit request */
			}
			if (rc == 0 && fn)
				rc = fn(nh, ctx); /* after an error, drain to the end */
		}
	}
out:
	close(fd);
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- links */

struct link_ctx {
	struct mc_link *out;
	int netnsid;
	bool found;
};

static void parse_linkinfo(struct rtattr *info, int len, struct mc_link *out)
{
	struct rtattr *a;

	for (a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_INFO_KIND) {
			size_t n = RTA_PAYLOAD(a);

			if (n >= sizeof(out->kind))
				n = sizeof(out->kind) - 1;
			memcpy(out->kind, RTA_DATA(a), n);
			out->kind[n] = '\0';
		}
	}
}

/* one RTM_NEWLINK message: 0, or -EPROTO when it is cut short; *target is
 * IFLA_TARGET_NETNSID (MC_NL_SELF when the kernel sent none) */
static int parse_link(const struct nlmsghdr *nh, struct mc_link *out, int32_t *target)
{
	const struct ifinfomsg *ifi;
	struct rtattr *a;
	int32_t v;
	int len;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return -EPROTO;
	ifi = NLMSG_DATA(nh);
	memset(out, 0, sizeof(*out));
	out->link_netnsid = -1;
	out->ifindex = ifi->ifi_index;
	out->iflink = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	*target = MC_NL_SELF;
	len = (int)IFLA_PAYLOAD(nh);
	for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFLA_LINK:
			if (rta_s32(a, &v))
				out->iflink = v;
			break;
		case IFLA_LINK_NETNSID:
			if (rta_s32(a, &v))
				out->link_netnsid = v;
			break;
		case IFLA_MASTER:
			if (rta_s32(a, &v))
				out->master = v;
			break;
		case IFLA_MTU:
			if (rta_s32(a, &v))
				out->mtu = (unsigned int)v;
			break;
		case IFLA_TARGET_NETNSID:
			if (rta_s32(a, &v))
				*target = v;
			break;
		case IFLA_ADDRESS:
			if (RTA_PAYLOAD(a) == 6) {
				memcpy(out->mac, RTA_DATA(a), 6);
				out->has_mac = true;
			}
			break;
		case IFLA_IFNAME: {
			size_t l = RTA_PAYLOAD(a);

			if (l > sizeof(out->name))
				l = sizeof(out->name);
			memcpy(out->name, RTA_DATA(a), l);
			out->name[sizeof(out->name) - 1] = '\0';
			break;
		}
		case IFLA_LINKINFO:
			parse_linkinfo(a, (int)RTA_PAYLOAD(a), out);
			break;
		}
	}
	return 0;
}

static int link_reply(struct nlmsghdr *nh, void *vctx)
{
	struct link_ctx *c = vctx;
	int32_t target;
	int rc;

	if (nh->nlmsg_type != RTM_NEWLINK || c->found)
		return 0;
	rc = parse_link(nh, c->out, &target);
	if (rc)
		return rc;
	/* an answer about another namespace than the one asked for is no answer */
	if (target != c->netnsid)
		return -EPROTO;
	c->found = true;
	return 0;
}

int mc_nl_get_link_in(int netnsid, const char *name, int ifindex, struct mc_link *out)
{
	struct link_ctx c = {.out = out, .netnsid = netnsid};
	struct mc_nl_req req;
	int rc;

	memset(out, 0, sizeof(*out));
	out->link_netnsid = -1;
	if (ifindex < 0 || netnsid < MC_NL_SELF)
		return -EINVAL;
	mc_nl_req_init(&req, RTM_GETLINK, 0, sizeof(req.ifi));
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	if (!ifindex) {
		size_t l;

		if (!name || (l = strlen(name)) == 0 || l >= IFNAMSIZ)
			return -EINVAL;
		mc_nl_req_put(&req, IFLA_IFNAME, name, l + 1);
	}
	nl_put_s32(&req, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	if (netnsid != MC_NL_SELF)
		nl_put_s32(&req, IFLA_TARGET_NETNSID, netnsid);
	rc = mc_nl_talk(&req, true, link_reply, &c);
	if (rc == 0 && !c.found)
		rc = -ENODEV;
	if (rc == 0 && ifindex && out->ifindex != ifindex)
		rc = -EPROTO;
	if (rc) {
		memset(out, 0, sizeof(*out));
		out->link_netnsid = -1;
	}
	return rc;
}

int mc_nl_get_link(const char *name, int ifindex, struct mc_link *out)
{
	return mc_nl_get_link_in(MC_NL_SELF, name, ifindex, out);
}

struct links_ctx {
	int (*fn)(const struct mc_link *l, void *ctx);
	void *ctx;
};

static int links_reply(struct nlmsghdr *nh, void *vctx)
{
	struct links_ctx *c = vctx;
	struct mc_link l;
	int32_t target;

	/* a message cut short is skipped: the rest of the dump still counts */
	if (nh->nlmsg_type != RTM_NEWLINK || parse_link(nh, &l, &target))
		return 0;
	return c->fn(&l, c->ctx);
}

int mc_nl_links(int (*fn)(const struct mc_link *l, void *ctx), void *ctx)
{
	struct links_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req req;

	mc_nl_req_init(&req, RTM_GETLINK, NLM_F_DUMP, sizeof(req.ifi));
	req.ifi.ifi_family = AF_UNSPEC;
	return mc_nl_talk(&req, false, links_reply, &c);
}

/* ---------------------------------------------------------------- routes */

static int parse_route(const struct nlmsghdr *nh, struct mc_nl_route *rt)
{
	const struct rtmsg *rtm = NLMSG_DATA(nh);
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
	int (*fn)(const struct mc_nl_route *r, void *ctx);
	void *ctx;
};

static int routes_reply(struct nlmsghdr *nh, void *vctx)
{
	struct routes_ctx *c = vctx;
	struct mc_nl_route rt;

	if (parse_route(nh, &rt))
		return 0;
	return c->fn(&rt, c->ctx);
}

int mc_nl_routes(int family, int (*fn)(const struct mc_nl_route *r, void *ctx), void *ctx)
{
	struct routes_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req req;

	mc_nl_req_init(&req, RTM_GETROUTE, NLM_F_DUMP, sizeof(req.rtm));
	req.rtm.rtm_family = (unsigned char)family;
	return mc_nl_talk(&req, false, routes_reply, &c);
}

static int route_get_reply(struct nlmsghdr *nh, void *ctx)
{
	struct mc_nl_route rt;

	if (parse_route(nh, &rt) == 0)
		*(int *)ctx = rt.oif;
	return 0;
}

int mc_nl_route_get(int family, const uint8_t *addr, int *oif)
{
	struct mc_nl_req req;
	size_t alen = family == AF_INET ? 4 : 16;

	*oif = 0;
	mc_nl_req_init(&req, RTM_GETROUTE, 0, sizeof(req.rtm));
	req.rtm.rtm_family = (unsigned char)family;
	req.rtm.rtm_dst_len = (unsigned char)(alen * 8);
	if (mc_nl_req_put(&req, RTA_DST, addr, alen))
		return -EINVAL;
	return mc_nl_talk(&req, false, route_get_reply, oif);
}

/* ---------------------------------------------------------------- netnsid */

int mc_nl_nsid_of(const struct nlmsghdr *nh, int *nsid)
{
	const struct rtattr *a;
	int32_t v;
	int len;

	if (nh->nlmsg_len < NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct rtgenmsg))))
		return -EPROTO;
	len = (int)(nh->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct rtgenmsg))));
	a = (const struct rtattr *)((const char *)NLMSG_DATA(nh) +
				    NLMSG_ALIGN(sizeof(struct rtgenmsg)));
	for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NETNSA_NSID && rta_s32(a, &v)) {
			*nsid = v;
			return 0;
		}
	}
	return -EPROTO;
}

static int nsid_reply(struct nlmsghdr *nh, void *vctx)
{
	if (nh->nlmsg_type != RTM_NEWNSID)
		return 0;
	return mc_nl_nsid_of(nh, vctx);
}

static int get_nsid(int nsfd, int *nsid)
{
	struct mc_nl_req req;
	int rc;

	mc_nl_req_init(&req, RTM_GETNSID, 0, sizeof(req.rtg));
	req.rtg.rtgen_family = AF_UNSPEC;
	nl_put_s32(&req, NETNSA_FD, nsfd);
	*nsid = NETNSA_NSID_NOT_ASSIGNED;
	rc = mc_nl_talk(&req, true, nsid_reply, nsid);
	if (rc == 0 && *nsid < 0)
		rc = -ENOENT;
	return rc;
}

int mc_nl_netnsid(int nsfd, bool alloc, int *nsid)
{
	struct mc_nl_req req;
	int rc;

	if (nsfd < 0)
		return -EBADF;
	rc = get_nsid(nsfd, nsid);
	if (rc != -ENOENT || !alloc)
		return rc;
	/* none yet: let the kernel pick one (-1), then read it back; a
	 * concurrent allocation (EEXIST) is just as good */
	mc_nl_req_init(&req, RTM_NEWNSID, 0, sizeof(req.rtg));
	req.rtg.rtgen_family = AF_UNSPEC;
	nl_put_s32(&req, NETNSA_FD, nsfd);
	nl_put_s32(&req, NETNSA_NSID, -1);
	rc = mc_nl_talk(&req, true, NULL, NULL);
	if (rc && rc != -EEXIST)
		return rc;
	return get_nsid(nsfd, nsid);
}

struct nsids_ctx {
	int (*fn)(int nsid, void *ctx);
	void *ctx;
};

static int nsids_reply(struct nlmsghdr *nh, void *vctx)
{
	struct nsids_ctx *c = vctx;
	int nsid, err;

	if (nh->nlmsg_type != RTM_NEWNSID)
		return 0;
	err = mc_nl_nsid_of(nh, &nsid);
	return err ? err : c->fn(nsid, c->ctx);
}

int mc_nl_nsids(int (*fn)(int nsid, void *ctx), void *ctx)
{
	struct nsids_ctx c = {.fn = fn, .ctx = ctx};
	struct mc_nl_req req;

	if (!fn)
		return -EINVAL;
	mc_nl_req_init(&req, RTM_GETNSID, NLM_F_DUMP, sizeof(req.rtg));
	req.rtg.rtgen_family = AF_UNSPEC;
	return mc_nl_talk(&req, true, nsids_reply, &c);
}

/* ---------------------------------------------------------------- addresses */

struct addr_ctx {
	int netnsid, family;
	int (*fn)(const struct mc_nl_addr *a, void *ctx);
	void *ctx;
};

static int addr_reply(struct nlmsghdr *nh, void *vctx)
{
	struct addr_ctx *c = vctx;
	const struct rtattr *local = NULL, *address = NULL, *a;
	size_t alen = c->family == AF_INET ? 4 : 16;
	struct mc_nl_addr out = {0};
	struct ifaddrmsg *ifa;
	int32_t target = MC_NL_SELF, v;
	int len;

	if (nh->nlmsg_type != RTM_NEWADDR)
		return 0;
	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return -EPROTO;
	ifa = NLMSG_DATA(nh);
	if (ifa->ifa_family != c->family)
		return 0;
	out.ifindex = (int)ifa->ifa_index;
	out.family = ifa->ifa_family;
	out.prefixlen = ifa->ifa_prefixlen;
	out.scope = ifa->ifa_scope;
	out.flags = ifa->ifa_flags;
	len = (int)IFA_PAYLOAD(nh);
	for (a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFA_LOCAL:
			local = a;
			break;
		case IFA_ADDRESS:
			address = a;
			break;
		case IFA_FLAGS:
			if (RTA_PAYLOAD(a) >= sizeof(uint32_t))
				memcpy(&out.flags, RTA_DATA(a), sizeof(uint32_t));
			break;
		case IFA_TARGET_NETNSID:
			if (rta_s32(a, &v))
				target = v;
			break;
		}
	}
	if (target != c->netnsid)
		return -EPROTO;
	/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's on
	 * point-to-point links); IPv6 usually sends only IFA_ADDRESS */
	a = local ? local : address;
	if (!a || RTA_PAYLOAD(a) != alen)
		return 0;
	memcpy(out.addr, RTA_DATA(a), alen);
	return c->fn(&out, c->ctx);
}

int mc_nl_get_addrs(int netnsid, int family, int (*fn)(const struct mc_nl_addr *a, void *ctx),
		    void *ctx)
{
	struct addr_ctx c = {.netnsid = netnsid, .family = family, .fn = fn, .ctx = ctx};
	struct mc_nl_req req;

	if ((family != AF_INET && family != AF_INET6) || netnsid < MC_NL_SELF || !fn)
		return -EINVAL;
	mc_nl_req_init(&req, RTM_GETADDR, NLM_F_DUMP, sizeof(req.ifa));
	req.ifa.ifa_family = (unsigned char)family;
	if (netnsid != MC_NL_SELF)
		nl_put_s32(&req, IFA_TARGET_NETNSID, netnsid);
	return mc_nl_talk(&req, true, addr_reply, &c);
}
