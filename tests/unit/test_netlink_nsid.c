/* Unit tests of lib/netlink's netnsid helpers, and of the kernel facts the
 * agent's podwatch rests on (root): a namespace given a netnsid is listed by
 * the dump; when it dies its id is freed and RTM_DELNSID announces it on
 * RTNLGRP_NSID; the next namespace gets the lowest free id again. Runs in a
 * network namespace of its own (the "node"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* a "pod": a child process in a new network namespace, and an fd of it */
struct pod {
	pid_t pid;
	int nsfd;
};

static struct pod pod_start(void)
{
	struct pod p = {.nsfd = -1};
	int ready[2];
	char path[64], c;

	assert_int_equal(pipe(ready), 0);
	p.pid = fork();
	assert_true(p.pid >= 0);
	if (p.pid == 0) {
		int fd;

		/* hold no other pod's namespace (an inherited fd would) */
		for (fd = 3; fd < 1024; fd++)
			if (fd != ready[1])
				close(fd);
		if (unshare(CLONE_NEWNET))
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	close(ready[1]);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)p.pid);
	p.nsfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(p.nsfd >= 0);
	return p;
}

/* nothing holds the namespace any more: it dies */
static void pod_end(struct pod *p)
{
	close(p->nsfd);
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
}

static int collect(int nsid, void *ctx)
{
	int *ids = ctx;

	if (ids[0] < 15)
		ids[++ids[0]] = nsid;
	return 0;
}

static bool listed(int nsid)
{
	int ids[16] = {0}, i;

	assert_int_equal(mc_nl_nsids(collect, ids), 0);
	for (i = 1; i <= ids[0]; i++)
		if (ids[i] == nsid)
			return true;
	return false;
}

/* the next RTM_DELNSID on fd within 10 s: its nsid, or -1 */
static int next_delnsid(int fd)
{
	char buf[8192];
	int waited;

	for (waited = 0; waited < 100; waited++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct nlmsghdr *nh;
		ssize_t n;
		int nsid;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		for (nh = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(nh, (unsigned int)n);
		     nh = NLMSG_NEXT(nh, n))
			if (nh->nlmsg_type == RTM_DELNSID && mc_nl_nsid_of(nh, &nsid) == 0)
				return nsid;
	}
	return -1;
}

static void test_nsid_lifecycle(void **state)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int group = RTNLGRP_NSID, fd, a_id, b_id, c_id, again;
	struct pod a, b, c;

	(void)state;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)), 0);

	a = pod_start();
	b = pod_start();
	/* no id until one is asked for */
	assert_int_equal(mc_nl_netnsid(a.nsfd, false, &a_id), -ENOENT);
	assert_int_equal(mc_nl_netnsid(a.nsfd, true, &a_id), 0);
	assert_int_equal(mc_nl_netnsid(b.nsfd, true, &b_id), 0);
	assert_int_not_equal(a_id, b_id);
	assert_int_equal(mc_nl_netnsid(a.nsfd, false, &again), 0);
	assert_int_equal(again, a_id);
	assert_true(listed(a_id));
	assert_true(listed(b_id));

	/* a dies: announced, no longer listed; b is untouched */
	pod_end(&a);
	assert_int_equal(next_delnsid(fd), a_id);
	assert_false(listed(a_id));
	assert_true(listed(b_id));
	/* the next namespace gets the freed (lowest) id */
	c = pod_start();
	assert_int_equal(mc_nl_netnsid(c.nsfd, true, &c_id), 0);
	if (a_id < b_id)
		assert_int_equal(c_id, a_id);
	pod_end(&b);
	assert_int_equal(next_delnsid(fd), b_id);
	pod_end(&c);
	assert_int_equal(next_delnsid(fd), c_id);
	close(fd);
}

static void test_nsid_of_bad_message(void **state)
{
	struct {
		struct nlmsghdr nh;
		struct rtgenmsg g;
		char pad[3];
	} m = {.nh = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtgenmsg)), .nlmsg_type = RTM_DELNSID}};
	int nsid = 42;

	(void)state;
	assert_int_equal(mc_nl_nsid_of(&m.nh, &nsid), -EPROTO); /* no NETNSA_NSID */
	assert_int_equal(nsid, 42);
	m.nh.nlmsg_len = NLMSG_LENGTH(0);
	assert_int_equal(mc_nl_nsid_of(&m.nh, &nsid), -EPROTO); /* too short */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nsid_lifecycle),
		cmocka_unit_test(test_nsid_of_bad_message),
	};

	if (geteuid() != 0) {
		printf("# SKIP test_netlink_nsid needs root (network namespaces)\n");
		return 0;
	}
	/* our own "node" namespace: its nsids are ours alone */
	if (unshare(CLONE_NEWNET)) {
		printf("# SKIP test_netlink_nsid: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
