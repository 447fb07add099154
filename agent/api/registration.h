/*
 * The registration request a pod's meshcut-init sends (POST /v1/pods), parsed
 * strictly: unknown fields, wrong types, out-of-range ports, bad addresses and
 * duplicate keys are errors with a message naming the field. Nothing here is
 * trusted yet: the registry checks every claim against the caller.
 *
 *   {"namespace": "default", "name": "productpage-7d4f",
 *    "ips": ["10.244.1.11", "fd00::11"],          1 or 2 (one per family)
 *    "netns_cookie": 12345,                        optional claim
 *    "host_ifindex": 7, "mac": "0a:58:0a:f4:01:0b",   optional (tc shortcut)
 *    "outbound_port": 15001, "inbound_port": 15006, "proxy_uid": 1337,
 *    "exclude_inbound_ports": "15090,15021",  "include_inbound_ports": "*",
 *    "exclude_outbound_ports": "", "exclude_outbound_cidrs": "10.0.0.0/8",
 *    "include_outbound_cidrs": "*", "include_outbound_ports": "",
 *    "interception_mode": "REDIRECT",
 *    "app_sockets": "shortcut",                 or "tcp": the app's own sockets stay on
 *                                                TCP, only sidecar pairs (optional)
 *    "app_reads": "any"}                        or "recv": the owner's promise that the
 *                                                app never splice()s (optional)
 * The capture settings' keys (ports to app_reads) are rows of
 * lib/capture_settings.h, which meshcut-init writes them from.
 * Port and CIDR lists use the syntax of Istio's traffic.sidecar.istio.io
 * annotations (comma-separated, port ranges a-b, "*" where Istio allows it).
 * As in istio-iptables, an include_inbound_ports list (or "") names the only
 * captured inbound ports and makes exclude_inbound_ports moot (still checked);
 * with "*" (the default) exclude_inbound_ports is what stays out.
 */
#ifndef MESHCUT_AGENT_REGISTRATION_H
#define MESHCUT_AGENT_REGISTRATION_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pods.h"

#define MC_REG_MAX_BODY 16384

struct mc_registration {
	char namespace[64];
	char name[254];
	struct mc_addr ip4, ip6; /* zero when absent */
	bool has_netns_cookie;
	uint64_t netns_cookie;
	uint32_t host_ifindex;
	bool has_mac;
	uint8_t mac[6];
	struct mc_pod policy; /* ports, uid and capture lists, ready for the map */
};

/* 0, or -1 with a message for the caller in err */
int mc_registration_parse(const char *body, size_t len, struct mc_registration *r, char *err,
			  size_t errlen);

#endif
