/* Pod deletion through netnsid and link events: see podwatch.h. */
#include "api/podwatch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "agent.h"
#include "log.h"
#include "netlink.h"
#include "crossnode/tc.h"
#include "api/verify.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* ------------------------------------------------------------ the verdict */

/* the node's netnsids, as one dump saw them */
struct nsids {
	int *id;
	size_t n, cap;
	bool ok; /* false: the dump failed, nothing is known */
};

static int add_nsid(int nsid, void *ctx)
{
	struct nsids *s = ctx;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		int *id = realloc(s->id, cap * sizeof(*id));

		if (!id)
			return -ENOMEM;
		s->id = id;
		s->cap = cap;
	}
	s->id[s->n++] = nsid;
	return 0;
}

static void nsids_read(struct nsids *s)
{
	int err;

	s->n = 0;
	err = mc_nl_nsids(add_nsid, s);
	s->ok = !err;
	if (err)
		pr_warn("podwatch: cannot list the node's netnsids (%s): namespaces are checked "
			"one by one", strerror(-err));
}

static bool nsid_assigned(const struct nsids *s, int nsid)
{
	size_t i;

	if (!s->ok)
		return true; /* unknown: the per-namespace check decides */
	for (i = 0; i < s->n; i++)
		if (s->id[i] == nsid)
			return true;
	return false;
}

/* Why the registration is dead (why filled, true), or false while it may be
 * alive, also when something cannot be read: a live pod is never dropped on
 * a failed look. */
static bool is_dead(const struct mc_pod *pod, const struct mc_pod_life *life,
		    const struct nsids *live, char *why, size_t len)
{
	bool known = life && life->nsid >= 0;
	char what[160];
	struct mc_link l;
	int err;

	if (known) {
		if (!nsid_assigned(live, life->nsid)) {
			snprintf(why, len, "its network namespace is gone (netnsid %d freed)", life->nsid);
			return true;
		}
		err = mc_verify_carries(life->nsid, pod, what, sizeof(what));
		if (err == 0) {
			snprintf(why, len, "%s: that netnsid is another namespace's now, or the pod's "
					   "network is torn down", what);
			return true;
		}
		if (err < 0 && err != -EINVAL)
			pr_warn("podwatch: cannot read netnsid %d (%s): pod %.*s kept", life->nsid,
				strerror(-err), (int)sizeof(pod->key), pod->key);
		/* -EINVAL: the id went between the dump and now: its event follows */
	}
	if (!pod->host_ifindex)
		return false;
	err = mc_nl_get_link(NULL, (int)pod->host_ifindex, &l);
	if (err == -ENODEV) {
		snprintf(why, len, "its host veth %u is gone", pod->host_ifindex);
		return true;
	}
	if (!err && known && (strcmp(l.kind, "veth") || l.link_netnsid != life->nsid)) {
		snprintf(why, len, "its host veth's ifindex %u is another interface's now (%s)",
			 pod->host_ifindex, l.name);
		return true;
	}
	return false;
}

void mc_podwatch_hold(struct mc_agent *a)
{
	pthread_mutex_lock(&a->podwatch.change);
}

void mc_podwatch_release(struct mc_agent *a)
{
	pthread_mutex_unlock(&a->podwatch.change);
}

/* remove a dead registration and everything it had (tc included); the
 * caller holds the change lock */
static bool remove_dead(struct mc_agent *a, uint64_t netns, const char *why)
{
	struct mc_pod pod;

	if (mc_registry_remove_netns(&a->reg, netns, &pod))
		return false; /* went meanwhile */
	pod.key[sizeof(pod.key) - 1] = '\0';
	pr_info("pod %s (netns %llu) is gone: %s: registration removed", pod.key,
		(unsigned long long)netns, why);
	mc_tc_pod_removed(a, &pod);
	return true;
}

/* ------------------------------------------------------------ collecting */

enum pick { PICK_ALL, PICK_NSID, PICK_VETH };

struct candidate {
	struct mc_pod pod;
	struct mc_pod_life life;
	bool has_life;
};

struct candidates {
	enum pick pick;
	int key; /* the nsid or the ifindex */
	struct candidate *c;
	size_t n, cap;
};

static void pick_one(const struct mc_pod *pod, const struct mc_pod_life *life, void *ctx)
{
	struct candidates *s = ctx;

	if ((s->pick == PICK_NSID && (!life || life->nsid != s->key)) ||
	    (s->pick == PICK_VETH && (int)pod->host_ifindex != s->key))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		struct candidate *c = realloc(s->c, cap * sizeof(*c));

		if (!c)
			return; /* what could not be looked at stays, as before */
		s->c = c;
		s->cap = cap;
	}
	s->c[s->n].pod = *pod;
	s->c[s->n].has_life = life != NULL;
	if (life)
		s->c[s->n].life = *life;
	s->n++;
}

/* check the registrations picked (copied under the registry's lock, looked at
 * without it: netlink takes time) and remove the dead ones */
static int sweep(struct mc_agent *a, enum pick pick, int key)
{
	struct candidates s = {.pick = pick, .key = key};
	struct nsids live = {0};
	char why[256];
	int removed = 0;
	size_t i;

	mc_registry_each_life(&a->reg, pick_one, &s);
	if (s.n)
		nsids_read(&live);
	for (i = 0; i < s.n; i++) {
		const struct candidate *c = &s.c[i];

		if (!is_dead(&c->pod, c->has_life ? &c->life : NULL, &live, why, sizeof(why)))
			continue;
		mc_podwatch_hold(a);
		removed += remove_dead(a, c->pod.netns_cookie, why);
		mc_podwatch_release(a);
	}
	free(s.c);
	free(live.id);
	return removed;
}

int mc_podwatch_clear_way(struct mc_agent *a, const struct mc_registration *r, uint64_t netns,
			  int nsid)
{
	const struct mc_addr *ips[2] = {&r->ip4, &r->ip6};
	struct candidates s = {.pick = PICK_NSID, .key = nsid};
	struct nsids live = {0};
	struct mc_pod_life life;
	struct mc_pod pod;
	char why[256];
	uint64_t owner;
	int removed = 0, i;
	bool has_life, looked = false;
	size_t j;

	/* the caller holds nsid now: whoever recorded it before is dead */
	if (nsid >= 0) {
		mc_registry_each_life(&a->reg, pick_one, &s);
		for (j = 0; j < s.n; j++) {
			if (s.c[j].pod.netns_cookie == netns)
				continue;
			snprintf(why, sizeof(why), "its netnsid %d is namespace %llu's now", nsid,
				 (unsigned long long)netns);
			removed += remove_dead(a, s.c[j].pod.netns_cookie, why);
		}
		free(s.c);
	}
	/* an IP held by a namespace that is gone or no longer carries it */
	for (i = 0; i < 2; i++) {
		if (mc_addr_zero(ips[i]) || mc_registry_ip_owner(&a->reg, ips[i], &owner) ||
		    owner == netns || mc_registry_get(&a->reg, owner, &pod, &life, &has_life))
			continue;
		if (!looked)
			nsids_read(&live);
		looked = true;
		if (is_dead(&pod, has_life ? &life : NULL, &live, why, sizeof(why)))
			removed += remove_dead(a, owner, why);
	}
	free(live.id);
	return removed;
}

/* ------------------------------------------------------------ the watcher */

static void *watch(void *arg)
{
	struct mc_agent *a = arg;
	struct mc_podwatch *w = &a->podwatch;
	char buf[16384];

	while (!atomic_load(&w->stopping)) {
		struct pollfd p = {.fd = w->fd, .events = POLLIN};
		struct nlmsghdr *nh;
		ssize_t n;
		int nsid;

		if (poll(&p, 1, 500) <= 0)
			continue;
		n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS) { /* events were lost: check every registration */
				pr_warn("podwatch: netlink events lost: checking every registration");
				sweep(a, PICK_ALL, 0);
			}
			continue;
		}
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned int)n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == RTM_DELNSID && mc_nl_nsid_of(nh, &nsid) == 0)
				sweep(a, PICK_NSID, nsid);
			else if (nh->nlmsg_type == RTM_DELLINK &&
				 nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifinfomsg)))
				sweep(a, PICK_VETH, ((struct ifinfomsg *)NLMSG_DATA(nh))->ifi_index);
		}
	}
	return NULL;
}

/* rtnetlink link events and netnsid events of the agent's namespace */
static int subscribe(void)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	int fd, group = RTNLGRP_NSID, size = 1 << 20, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* a burst of pod deletions must not overflow it (ENOBUFS: a full sweep) */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int mc_podwatch_start(struct mc_agent *a)
{
	struct mc_podwatch *w = &a->podwatch;
	int n;

	pthread_mutex_init(&w->change, NULL);
	w->running = false;
	atomic_store(&w->stopping, false);
	/* subscribe first: a namespace that dies during the check is an event */
	w->fd = subscribe();
	n = sweep(a, PICK_ALL, 0);
	if (n > 0)
		pr_info("start-up: %d registrations whose pods went while no agent ran were removed", n);
	if (w->fd < 0)
		return w->fd;
	if (pthread_create(&w->thread, NULL, watch, a)) {
		close(w->fd);
		w->fd = -1;
		return -EAGAIN;
	}
	w->running = true;
	return 0;
}

void mc_podwatch_stop(struct mc_agent *a)
{
	struct mc_podwatch *w = &a->podwatch;

	/* the socket is open only while the thread runs */
	if (!w->running)
		return;
	atomic_store(&w->stopping, true);
	pthread_join(w->thread, NULL);
	w->running = false;
	close(w->fd);
	w->fd = -1;
}
