/*
 * Registration security: every claim of a registration is checked against the
 * caller's own network namespace, read from the Unix socket it called on
 * (SIOCGSKNS gives that namespace, SO_NETNS_COOKIE its cookie: no PID, no
 * race, nothing the caller can fake), with netlink queries that target it by
 * netnsid without entering it.
 */
#ifndef MESHCUT_AGENT_VERIFY_H
#define MESHCUT_AGENT_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include "registration.h"

/* 0 when every claim holds; otherwise an HTTP status (403, 500) with a
 * message naming the claim that failed. conn_fd is the accepted socket.
 * Checks: ips configured on a non-loopback interface of the caller's netns;
 * host_ifindex a veth of this node whose peer is (netnsid and ifindex) the
 * caller's interface carrying those ips; mac that interface's; netns_cookie
 * the caller's. Needs CAP_NET_ADMIN over the caller's netns (SIOCGSKNS,
 * netlink reads by netnsid) and over the agent's (RTM_NEWNSID); no PID is
 * used, so no CAP_SYS_PTRACE or hostPID. Thread-safe. See verify.c. */
int mc_verify_registration(int conn_fd, uint64_t caller_netns, const struct mc_registration *r,
			   char *msg, size_t msglen);

#endif
