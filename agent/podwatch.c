/* Pod deletion through rtnetlink link events: see podwatch.h. */
#include "podwatch.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "netlink.h"
#include "tc.h"

struct match {
	int ifindex;      /* -1: every pod whose veth is gone */
	__u64 netns[64];
	struct mc_pod pods[64];
	int n;
};

static void collect(const struct mc_pod *pod, void *ctx)
{
	struct match *m = ctx;
	struct mc_link l;

	if (!pod->host_ifindex || m->n >= 64)
		return;
	if (m->ifindex >= 0 ? (int)pod->host_ifindex != m->ifindex
			    : mc_nl_get_link(NULL, (int)pod->host_ifindex, &l) != -ENODEV)
		return;
	m->netns[m->n] = pod->netns_cookie;
	m->pods[m->n++] = *pod;
}

static int remove_matching(struct mc_agent *a, int ifindex)
{
	struct match m = {.ifindex = ifindex};
	int i, removed = 0;

	mc_registry_each(&a->reg, collect, &m); /* collect under the lock, remove after */
	for (i = 0; i < m.n; i++) {
		if (mc_registry_remove_netns(&a->reg, m.netns[i], NULL))
			continue;
		m.pods[i].key[sizeof(m.pods[i].key) - 1] = '\0';
		pr_info("pod %s is gone (host veth %u deleted): registration removed", m.pods[i].key,
			m.pods[i].host_ifindex);
		mc_tc_pod_removed(a, &m.pods[i]);
		removed++;
	}
	return removed;
}

int mc_podwatch_reconcile(struct mc_agent *a)
{
	return remove_matching(a, -1);
}

static pthread_t thread;
static int sock_fd = -1;
static atomic_bool stopping;

static void *watch(void *arg)
{
	struct mc_agent *a = arg;
	char buf[16384];

	while (!atomic_load(&stopping)) {
		struct pollfd p = {.fd = sock_fd, .events = POLLIN};
		struct nlmsghdr *nh;
		ssize_t n;

		if (poll(&p, 1, 500) <= 0)
			continue;
		n = recv(sock_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS) /* events were lost: check every pod */
				remove_matching(a, -1);
			continue;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n); nh = NLMSG_NEXT(nh, n)) {
			struct ifinfomsg *ifi;

			if (nh->nlmsg_type != RTM_DELLINK)
				continue;
			ifi = NLMSG_DATA(nh);
			remove_matching(a, ifi->ifi_index);
		}
	}
	return NULL;
}

int mc_podwatch_start(struct mc_agent *a)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};

	sock_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sock_fd < 0)
		return -errno;
	if (bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(sock_fd);
		sock_fd = -1;
		return err;
	}
	if (pthread_create(&thread, NULL, watch, a)) {
		close(sock_fd);
		sock_fd = -1;
		return -EAGAIN;
	}
	return 0;
}

void mc_podwatch_stop(void)
{
	if (sock_fd < 0)
		return;
	atomic_store(&stopping, true);
	pthread_join(thread, NULL);
	close(sock_fd);
	sock_fd = -1;
}
