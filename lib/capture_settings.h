/*
 * The Istio capture settings, written once: what istio-iptables redirects to
 * the sidecar in a pod (ports, CIDRs, proxy uid, interception mode) and the
 * pod's own choice for its app sockets. Four places must agree on them, and
 * all four are built from the rows below:
 *   - meshcut-webhook reads each from istio-init's flags and the pod's
 *     annotations and passes it to meshcut-init as an environment variable
 *     (injector/webhook/istio_args.c);
 *   - meshcut-init takes it as an option or that variable, checks it and
 *     sends it to the agent under its JSON key (injector/init/meshcut_init.c);
 *   - the agent parses that key strictly (agent/api/registration.c);
 *   - the chart documents every row (charts/meshcut/README.md) and its Istio
 *     injection template sets every variable: tests/unit/test_capture_settings.c
 *     fails the build when a row is missing there.
 *
 * One row per setting, in the order the webhook writes the environment and
 * meshcut-init writes the JSON:
 *   X(ID, json key, meshcut-init option, environment variable, kind,
 *     option's value name, usage note, istio-iptables short flag, its long
 *     flag, pod annotation, Istio's default, merge)
 * kind: how the value is read (enum mc_capture_kind); usage note: what
 * meshcut-init's --help prints after the variable; merge: the annotation adds
 * to the flag instead of replacing it (as in Istio, excluded inbound ports
 * are the union of -d, which carries Istio's own ports, and the annotation).
 */
#ifndef MESHCUT_CAPTURE_SETTINGS_H
#define MESHCUT_CAPTURE_SETTINGS_H

#define MC_TRAFFIC_ANN "traffic.sidecar.istio.io/"

/* What istio-iptables captures: read from istio-init's flags and annotations. */
#define MC_CAPTURE_ISTIO_SETTINGS(X)                                                           \
	X(OUTBOUND_PORT, "outbound_port", "outbound-port", "MESHCUT_OUTBOUND_PORT", MC_CAP_PORT,  \
	  "P", " (15001)", 'p', "envoy-port", NULL, "15001", 0)                                  \
	X(INBOUND_PORT, "inbound_port", "inbound-port", "MESHCUT_INBOUND_PORT", MC_CAP_PORT, "P", \
	  " (15006)", 'z', "inbound-capture-port", NULL, "15006", 0)                             \
	X(PROXY_UID, "proxy_uid", "proxy-uid", "MESHCUT_PROXY_UID", MC_CAP_UID, "UID", "   (1337)", \
	  'u', "proxy-uid", NULL, "1337", 0)                                                      \
	X(EXCLUDE_INBOUND_PORTS, "exclude_inbound_ports", "exclude-inbound-ports",                 \
	  "MESHCUT_EXCLUDE_INBOUND_PORTS", MC_CAP_PORTS, "L", "", 'd',                            \
	  "istio-local-exclude-ports", MC_TRAFFIC_ANN "excludeInboundPorts", "15090,15021,15020", \
	  1)                                                                                      \
	X(INCLUDE_INBOUND_PORTS, "include_inbound_ports", "include-inbound-ports",                 \
	  "MESHCUT_INCLUDE_INBOUND_PORTS", MC_CAP_PORTS_OR_ALL, "L|*", " (*)", 'b',               \
	  "istio-inbound-ports", MC_TRAFFIC_ANN "includeInboundPorts", "*", 0)                   \
	X(EXCLUDE_OUTBOUND_PORTS, "exclude_outbound_ports", "exclude-outbound-ports",              \
	  "MESHCUT_EXCLUDE_OUTBOUND_PORTS", MC_CAP_PORTS, "L", "", 'o',                           \
	  "istio-local-outbound-ports-exclude", MC_TRAFFIC_ANN "excludeOutboundPorts", "", 0)    \
	X(EXCLUDE_OUTBOUND_CIDRS, "exclude_outbound_cidrs", "exclude-outbound-cidrs",              \
	  "MESHCUT_EXCLUDE_OUTBOUND_CIDRS", MC_CAP_CIDRS, "L", "", 'x',                           \
	  "istio-service-exclude-cidr", MC_TRAFFIC_ANN "excludeOutboundIPRanges", "", 0)         \
	X(INCLUDE_OUTBOUND_CIDRS, "include_outbound_cidrs", "include-outbound-cidrs",              \
	  "MESHCUT_INCLUDE_OUTBOUND_CIDRS", MC_CAP_CIDRS_OR_ALL, "L|*", " (*)", 'i',              \
	  "istio-service-cidr", MC_TRAFFIC_ANN "includeOutboundIPRanges", "*", 0)                \
	X(INCLUDE_OUTBOUND_PORTS, "include_outbound_ports", "include-outbound-ports",              \
	  "MESHCUT_INCLUDE_OUTBOUND_PORTS", MC_CAP_PORTS_UNSUPPORTED, "L",                        \
	  " (unsupported: must be empty)", 'q', "istio-outbound-ports",                           \
	  MC_TRAFFIC_ANN "includeOutboundPorts", "", 0)                                           \
	X(INTERCEPTION_MODE, "interception_mode", "interception-mode", "MESHCUT_INTERCEPTION_MODE", \
	  MC_CAP_MODE, "M", " (REDIRECT)", 'm', "istio-inbound-interception-mode",               \
	  "sidecar.istio.io/interceptionMode", "REDIRECT", 0)

/* meshcut's own, per pod: the app's sockets shortcut (default) or left on TCP,
 * only the sidecar's pairs shortcut; and how the app reads: "recv" is the
 * owner's promise that it never splice()s its sockets, so a direction towards
 * it redirects from the first byte (docs/semantics.md). No istio-iptables flag. */
#define MC_CAPTURE_OWN_SETTINGS(X)                                                             \
	X(APP_SOCKETS, "app_sockets", "app-sockets", "MESHCUT_APP_SOCKETS", MC_CAP_APP_SOCKETS,    \
	  "tcp|shortcut",                                                                          \
	  " (shortcut); tcp: the app's own\n"                                                      \
	  "                                 sockets stay on TCP, only sidecar pairs are shortcut", \
	  0, NULL, "meshcut.io/app-sockets", "shortcut", 0)                                       \
	X(APP_READS, "app_reads", "app-reads", "MESHCUT_APP_READS", MC_CAP_APP_READS, "recv|any",   \
	  " (any); recv: the app never splice()s its\n"                                             \
	  "                                 sockets, redirect to it from the first byte",           \
	  0, NULL, "meshcut.io/app-reads", "any", 0)

#define MC_CAPTURE_SETTINGS(X) MC_CAPTURE_ISTIO_SETTINGS(X) MC_CAPTURE_OWN_SETTINGS(X)

enum mc_capture_kind {
	MC_CAP_PORT,              /* one port, 1..65535 */
	MC_CAP_UID,               /* a uid, 0..4294967294 */
	MC_CAP_PORTS,             /* a port list ("a,b,c-d"; "" is none) */
	MC_CAP_PORTS_OR_ALL,      /* a port list, or "*" */
	MC_CAP_PORTS_UNSUPPORTED, /* a port list meshcut cannot honour unless empty */
	MC_CAP_CIDRS,             /* a CIDR list ("" is none) */
	MC_CAP_CIDRS_OR_ALL,      /* a CIDR list, or "*" */
	MC_CAP_MODE,              /* Istio's interception mode: only REDIRECT is accelerated */
	MC_CAP_APP_SOCKETS,       /* "tcp" or "shortcut" */
	MC_CAP_APP_READS,         /* "recv" or "any" */
};

/* a list: "" is a value ("capture nothing", istio-iptables -b ""), not unset */
#define MC_CAP_KIND_IS_LIST(k) ((k) >= MC_CAP_PORTS && (k) <= MC_CAP_CIDRS_OR_ALL)

enum mc_capture_id {
#define MC_CAP_ID(id, ...) MC_CAPTURE_##id,
	MC_CAPTURE_SETTINGS(MC_CAP_ID)
#undef MC_CAP_ID
	MC_CAPTURE_NSETTINGS
};

/* the Istio rows come first: their count */
enum {
#define MC_CAP_ONE(...) +1
	MC_CAPTURE_NISTIO = 0 MC_CAPTURE_ISTIO_SETTINGS(MC_CAP_ONE)
#undef MC_CAP_ONE
};

#endif
