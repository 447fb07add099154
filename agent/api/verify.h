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
#include "api/registration.h"

/* 0 when every claim holds; otherwise an HTTP status (403, 500) with a
 * message naming the claim that failed. conn_fd is the accepted socket.
 * Checks: ips configured on a non-loopback interface of the caller's netns;
 * host_ifindex a veth of this node whose peer is (netnsid and ifindex) the
 * caller's interface carrying those ips; mac that interface's; netns_cookie
 * the caller's. Needs CAP_NET_ADMIN over the caller's netns (SIOCGSKNS,
 * netlink reads by netnsid) and over the agent's (RTM_NEWNSID); no PID is
 * used, so no CAP_SYS_PTRACE or hostPID. Thread-safe. See verify.c. */
int mc_verify_registration(int conn_fd, uint64_t caller_netns, const struct mc_registration *r,
			   int *nsid, char *msg, size_t msglen);
/* (*nsid: the netnsid under which the agent's namespace knows the caller's,
 * assigned if it had none; -1 when refused) */

/* Does the namespace known here as nsid still carry what pod registered: each
 * of its IPs on an interface that is not a loopback device, and (when it
 * registered one) its MAC on an interface carrying them? 1 yes, 0 no (why
 * says what is missing), -errno when it cannot be read (an nsid nobody has:
 * -EINVAL). How the agent tells a namespace that took a dead pod's nsid, or a
 * namespace whose network is torn down, from the pod itself. */
int mc_verify_carries(int nsid, const struct mc_pod *pod, char *why, size_t len);

#endif
