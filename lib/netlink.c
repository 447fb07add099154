/* Minimal rtnetlink link query: see netlink.h. */
#include "netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

int mc_nl_get_link(const char *name, int ifindex, struct mc_link *out)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
		char attrs[64];
	} req;
	char buf[16384];
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct nlmsghdr *nh;
	struct rtattr *a;
	ssize_t n;
	int fd, len, rc = -ENODEV;

	memset(out, 0, sizeof(*out));
	out->link_netnsid = -1;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ifi));
	req.nh.nlmsg_type = RTM_GETLINK;
	req.nh.nlmsg_flags = NLM_F_REQUEST;
	req.nh.nlmsg_seq = 1;
	req.ifi.ifi_family = AF_UNSPEC;
	req.ifi.ifi_index = ifindex;
	if (!ifindex) {
		size_t l;

		if (!name || (l = strlen(name)) == 0 || l >= IFNAMSIZ)
			return -EINVAL;
		a = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
		a->rta_type = IFLA_IFNAME;
		a->rta_len = (unsigned short)RTA_LENGTH(l + 1);
		memcpy(RTA_DATA(a), name, l + 1);
		req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n); nh = NLMSG_NEXT(nh, n)) {
		struct ifinfomsg *ifi;

		if (nh->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(nh);

			rc = e->error ? e->error : -ENODEV;
			break;
		}
		if (nh->nlmsg_type != RTM_NEWLINK)
			continue;
		ifi = NLMSG_DATA(nh);
		out->ifindex = ifi->ifi_index;
		out->iflink = ifi->ifi_index;
		len = (int)IFLA_PAYLOAD(nh);
		for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
			switch (a->rta_type) {
			case IFLA_LINK:
				out->iflink = *(int *)RTA_DATA(a);
				break;
			case IFLA_LINK_NETNSID:
				out->link_netnsid = *(int *)RTA_DATA(a);
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
		rc = 0;
		break;
	}
out:
	close(fd);
	return rc;
}
