/*
 * Registration security: a pod can register only itself.
 *
 * The agent redirects traffic on the word of a registration, so every claim is
 * checked against the caller's own network namespace, and that namespace comes
 * from the accepted Unix socket, never from the request or from a PID:
 *
 *  1. ioctl(conn_fd, SIOCGSKNS) opens the network namespace the socket lives
 *     in. An accepted AF_UNIX socket is created in the namespace of the
 *     connecting socket, and that never changes: a process that connects and
 *     exits, a PID that is recycled, a child that inherits the socket and
 *     moves to another namespace all leave the answer as it was. The socket's
 *     SO_NETNS_COOKIE must still be the cookie the API identified the caller
 *     by (the registry keys the pod by it).
 *  2. RTM_GETNSID (NETNSA_FD) gives the netnsid under which the agent's (the
 *     node's) namespace knows the caller's; RTM_NEWNSID assigns one if there
 *     is none. The namespace fd stays open while we look, so the id cannot be
 *     reused by another namespace meanwhile.
 *  3. ips: each claimed address must be configured on an interface of the
 *     caller's namespace that is not a loopback device (RTM_GETADDR dump with
 *     IFA_TARGET_NETNSID: read from here, without entering the namespace).
 *     Loopback, link-local, multicast and unspecified addresses are no pod IP.
 *  4. host_ifindex: must exist in the agent's namespace, be a veth
 *     (IFLA_INFO_KIND), and its peer (IFLA_LINK_NETNSID, IFLA_LINK) must be,
 *     by netnsid AND ifindex, the caller's interface that carries the claimed
 *     IPs (both ends of a veth can have the same ifindex, so an ifindex alone
 *     proves nothing).
 *  5. mac: must be the MAC of that interface (RTM_GETLINK with
 *     IFLA_TARGET_NETNSID), or, without host_ifindex, of an interface that
 *     carries the claimed IPs.
 *  6. netns_cookie: must be the caller's (the registry checks it too).
 * A failed claim is a 403 whose message names the claim and why; a failure to
 * look (netlink, missing privilege) is a 500. Which pod owns an IP (409) and
 * idempotent re-registration stay the registry's job. The netnsid of step 2
 * is handed back: the registry records it, and podwatch.c learns from it when
 * the namespace is gone. mc_verify_carries() runs steps 3 and 5 again later,
 * by that netnsid, to tell whether it still names the pod's namespace.
 *
 * Privileges (what the chart must grant, and nothing more for this):
 *  - CAP_NET_ADMIN over the caller's network namespace (for pods: in the
 *    initial user namespace, i.e. the host's CAP_NET_ADMIN): SIOCGSKNS checks
 *    ns_capable(CAP_NET_ADMIN), and so do the IFA_/IFLA_TARGET_NETNSID reads.
 *  - CAP_NET_ADMIN over the agent's own namespace for RTM_NEWNSID (only when
 *    the caller's namespace has no netnsid yet).
 *  - No CAP_SYS_ADMIN (no setns), no CAP_SYS_PTRACE (no /proc/PID/ns, no
 *    pidfd), no hostPID: nothing here depends on the caller's PID.
 *
 * What it cannot prove: that an address is the pod's by Kubernetes' word. A
 * pod that may change its own namespace's addresses (CAP_NET_ADMIN in the pod)
 * could add another pod's IP to its eth0 before that pod registers; the
 * registry then refuses the real owner (409) until the impostor is gone. Such a
 * pod can already take that IP's traffic on a bridge network with ARP.
 */
#include "api/verify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "netlink.h"
#include "netns.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

#define MAX_CARRIERS 16 /* interfaces of the caller carrying one address */

/* one claimed address and the caller's interfaces that carry it */
struct claim {
	const struct mc_addr *ip;
	int family;
	char text[INET6_ADDRSTRLEN];
	int ifindex[MAX_CARRIERS];
	int n;    /* carriers that are not loopback devices */
	int seen; /* carriers found, loopback included */
	bool overflow;
};

#define REFUSE(status, ...)                                \
	do {                                               \
		snprintf(msg, msglen, __VA_ARGS__);        \
		rc = (status);                             \
		goto out;                                  \
	} while (0)

static void fmt_mac(const uint8_t *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* why an address can never be a pod's IP, or NULL */
static const char *not_a_pod_ip(const struct mc_addr *a)
{
	if (mc_addr_v4(a)) {
		uint32_t v = ntohl(a->w[3]);

		if ((v >> 24) == 127)
			return "a loopback address";
		if ((v >> 24) == 0)
			return "an unspecified (0.0.0.0/8) address";
		if ((v >> 16) == 0xa9fe)
			return "a link-local address";
		if ((v >> 28) == 0xe)
			return "a multicast address";
		if (v == 0xffffffffu)
			return "the broadcast address";
		return NULL;
	}
	if (!a->w[0] && !a->w[1] && !a->w[2] && a->w[3] == htonl(1))
		return "a loopback address";
	if ((ntohl(a->w[0]) >> 22) == (0xfe80u >> 6))
		return "a link-local address";
	if ((ntohl(a->w[0]) >> 24) == 0xff)
		return "a multicast address";
	return NULL;
}

static int collect_carrier(const struct mc_nl_addr *a, void *vctx)
{
	struct claim *c = vctx;
	const void *want = c->family == AF_INET ? (const void *)&c->ip->w[3] : (const void *)c->ip->w;

	if (a->flags & IFA_F_DADFAILED)
		return 0; /* a duplicate the kernel refused to use */
	if (memcmp(a->addr, want, c->family == AF_INET ? 4 : 16))
		return 0;
	if (c->n == MAX_CARRIERS) {
		c->overflow = true;
		return 0;
	}
	c->ifindex[c->n++] = a->ifindex;
	return 0;
}

static bool carries(const struct claim *c, int ifindex)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (c->ifindex[i] == ifindex)
			return true;
	return false;
}

static void claim_init(struct claim *c, const struct mc_addr *ip)
{
	memset(c, 0, sizeof(*c));
	c->ip = ip;
	c->family = mc_addr_v4(ip) ? AF_INET : AF_INET6;
	mc_format_ip(ip, c->text, sizeof(c->text));
}

/* the interfaces of namespace nsid that carry c->ip, loopback devices left
 * out (lo is no pod's network interface): 0 or -errno */
static int find_carriers(int nsid, struct claim *c)
{
	struct mc_link l;
	int err, j;

	err = mc_nl_get_addrs(nsid, c->family, collect_carrier, c);
	if (err)
		return err;
	c->seen = c->n;
	for (j = 0; j < c->n;) {
		err = mc_nl_get_link_in(nsid, NULL, c->ifindex[j], &l);
		if (err == 0 && !(l.flags & IFF_LOOPBACK)) {
			j++;
			continue;
		}
		if (err && err != -ENODEV)
			return err;
		c->ifindex[j] = c->ifindex[--c->n];
	}
	return 0;
}

/* is one interface carrying every claimed address the one with this MAC?
 * 1 yes, 0 no, -errno */
static int mac_carrier(int nsid, const struct claim *claims, int n, const uint8_t *mac)
{
	struct mc_link l;
	int i, j, err;

	for (j = 0; j < claims[0].n; j++) {
		bool all = true;

		for (i = 1; i < n; i++)
			all = all && carries(&claims[i], claims[0].ifindex[j]);
		if (!all)
			continue;
		err = mc_nl_get_link_in(nsid, NULL, claims[0].ifindex[j], &l);
		if (err && err != -ENODEV)
			return err;
		if (!err && l.has_mac && !memcmp(l.mac, mac, 6))
			return 1;
	}
	return 0;
}

/* the caller's own namespace is not the agent's (do_register checks the
 * cookie too; this compares the namespace files themselves) */
static bool is_own_netns(int nsfd)
{
	struct stat a, b;

	if (fstat(nsfd, &a) || stat("/proc/thread-self/ns/net", &b))
		return false;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int mc_verify_registration(int conn_fd, uint64_t caller_netns, const struct mc_registration *r,
			   int *nsid_out, char *msg, size_t msglen)
{
	struct claim claims[2];
	struct mc_link host, peer;
	char mac_s[24], have_s[24];
	uint64_t cookie = 0;
	int nsfd = -1, nsid = -1, n = 0, rc = 0, err, i;

	snprintf(msg, msglen, "verified");
	if (r->has_netns_cookie && r->netns_cookie != caller_netns)
		REFUSE(403, "netns_cookie: the claim %llu is not the caller's network namespace (%llu)",
		       (unsigned long long)r->netns_cookie, (unsigned long long)caller_netns);

	/* 1. the caller's namespace, from the socket */
	if (conn_fd < 0 || (err = mc_sock_netns_cookie(conn_fd, &cookie)))
		REFUSE(500, "cannot read the caller's network namespace cookie: %s",
		       strerror(conn_fd < 0 ? EBADF : -err));
	if (cookie != caller_netns)
		REFUSE(403, "the connection's network namespace (%llu) is not the caller's (%llu)",
		       (unsigned long long)cookie, (unsigned long long)caller_netns);
	nsfd = ioctl(conn_fd, SIOCGSKNS);
	if (nsfd < 0)
		REFUSE(500, "cannot open the caller's network namespace (SIOCGSKNS: %s; the agent "
			    "needs CAP_NET_ADMIN)", strerror(errno));
	if (is_own_netns(nsfd))
		REFUSE(403, "registration must come from the pod's network namespace, not the node's");

	/* 2. its netnsid as this (the node's) namespace knows it */
	err = mc_nl_netnsid(nsfd, true, &nsid);
	if (err)
		REFUSE(500, "cannot get a netnsid for the caller's network namespace: %s",
		       strerror(-err));

	/* 3. every claimed IP is configured on a (non-loopback) interface there */
	for (i = 0; i < 2; i++) {
		const struct mc_addr *ip = i == 0 ? &r->ip4 : &r->ip6;
		struct claim *c = &claims[n];
		const char *why;

		if (mc_addr_zero(ip))
			continue;
		claim_init(c, ip);
		if ((why = not_a_pod_ip(ip)))
			REFUSE(403, "ips: %s is %s, not a pod IP", c->text, why);
		err = find_carriers(nsid, c);
		if (err)
			REFUSE(500, "cannot read the caller's addresses and interfaces: %s",
			       strerror(-err));
		if (c->seen == 0)
			REFUSE(403, "ips: %s is not configured in the caller's network namespace",
			       c->text);
		if (c->n == 0)
			REFUSE(403, "ips: %s is configured only on a loopback interface in the caller's "
				    "network namespace, not on its network interface", c->text);
		n++;
	}
	if (n == 0)
		REFUSE(403, "ips: no pod IP claimed");

	/* 4. the host side of the caller's veth */
	if (r->host_ifindex) {
		int hi = (int)r->host_ifindex;

		err = mc_nl_get_link_in(MC_NL_SELF, NULL, hi, &host);
		if (err == -ENODEV)
			REFUSE(403, "host_ifindex: %d does not exist on this node", hi);
		if (err)
			REFUSE(500, "cannot read interface %d: %s", hi, strerror(-err));
		if (strcmp(host.kind, "veth"))
			REFUSE(403, "host_ifindex: %d (%s) is not a veth (%s)", hi, host.name,
			       host.kind[0] ? host.kind : "no link kind");
		if (host.link_netnsid < 0)
			REFUSE(403, "host_ifindex: %d (%s) is a veth whose peer is on this node, not "
				    "in the caller's network namespace", hi, host.name);
		if (host.link_netnsid != nsid)
			REFUSE(403, "host_ifindex: %d (%s) is the host side of another namespace's "
				    "interface (netnsid %d, the caller is %d)",
			       hi, host.name, host.link_netnsid, nsid);
		err = mc_nl_get_link_in(nsid, NULL, host.iflink, &peer);
		if (err == -ENODEV)
			REFUSE(403, "host_ifindex: %d (%s): its peer %d is gone from the caller's "
				    "network namespace", hi, host.name, host.iflink);
		if (err)
			REFUSE(500, "cannot read the caller's interface %d: %s", host.iflink,
			       strerror(-err));
		for (i = 0; i < n; i++)
			if (!carries(&claims[i], peer.ifindex))
				REFUSE(403, "host_ifindex: %d (%s) is the host side of the caller's %s "
					    "(ifindex %d), which does not carry %s",
				       hi, host.name, peer.name, peer.ifindex, claims[i].text);
		/* 5. with the veth known, the MAC is its pod side's */
		if (r->has_mac && (!peer.has_mac || memcmp(peer.mac, r->mac, 6))) {
			fmt_mac(r->mac, mac_s, sizeof(mac_s));
			fmt_mac(peer.mac, have_s, sizeof(have_s));
			REFUSE(403, "mac: %s is not the MAC of the caller's %s (ifindex %d, which has %s)",
			       mac_s, peer.name, peer.ifindex, peer.has_mac ? have_s : "none");
		}
	} else if (r->has_mac) {
		/* 5. without a veth claim: an interface that carries the IPs */
		err = mac_carrier(nsid, claims, n, r->mac);
		if (err < 0)
			REFUSE(500, "cannot read the caller's interfaces: %s", strerror(-err));
		if (err == 0) {
			fmt_mac(r->mac, mac_s, sizeof(mac_s));
			REFUSE(403, "mac: %s is not the MAC of an interface carrying %s in the "
				    "caller's network namespace", mac_s, claims[0].text);
		}
	}
	rc = 0;
out:
	if (nsfd >= 0)
		close(nsfd);
	if (nsid_out)
		*nsid_out = rc ? -1 : nsid;
	return rc;
}

int mc_verify_carries(int nsid, const struct mc_pod *pod, char *why, size_t len)
{
	static const uint8_t no_mac[6];
	struct claim claims[2];
	char mac_s[24];
	int n = 0, i, err;

	for (i = 0; i < 2; i++) {
		const struct mc_addr *ip = i == 0 ? &pod->ip4 : &pod->ip6;

		if (mc_addr_zero(ip))
			continue;
		claim_init(&claims[n], ip);
		err = find_carriers(nsid, &claims[n]);
		if (err)
			return err;
		if (claims[n].n == 0) {
			snprintf(why, len, "netnsid %d does not carry %s on a network interface", nsid,
				 claims[n].text);
			return 0;
		}
		n++;
	}
	if (n == 0) {
		snprintf(why, len, "it has no IP");
		return 0;
	}
	if (!memcmp(pod->mac, no_mac, 6))
		return 1;
	err = mac_carrier(nsid, claims, n, pod->mac);
	if (err == 0) {
		fmt_mac(pod->mac, mac_s, sizeof(mac_s));
		snprintf(why, len, "netnsid %d has no interface with MAC %s carrying %s", nsid, mac_s,
			 claims[0].text);
	}
	return err;
}
