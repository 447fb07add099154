/* What istio-iptables captures in this pod, rebuilt from the pod spec so that
 * meshcut-init shortcuts exactly the traffic the sidecar would have seen and
 * nothing else. Sources: the args of istio-init (or, with Istio CNI,
 * istio-validation, which Istio renders with the same flags) and the
 * traffic.sidecar.istio.io annotations. */
#ifndef MESHCUT_WEBHOOK_ISTIO_ARGS_H
#define MESHCUT_WEBHOOK_ISTIO_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "capture_settings.h"

/* The rows of MC_CAPTURE_ISTIO_SETTINGS (lib/capture_settings.h), in its order. */
enum capture_key {
#define CAPTURE_KEY(id, ...) CAPTURE_##id,
	MC_CAPTURE_ISTIO_SETTINGS(CAPTURE_KEY)
#undef CAPTURE_KEY
	CAPTURE_NKEYS
};

struct capture_setting {
	const char *env;        /* the variable meshcut-init reads */
	char shortopt;          /* istio-iptables -X */
	const char *longopt;    /* istio-iptables --name */
	const char *annotation; /* the pod annotation that sets it, or NULL */
	const char *fallback;   /* Istio's default when neither is there */
	bool merge;             /* the annotation adds to the flag instead of replacing it */
};

/* Indexed by enum capture_key; the order is the env order of the patch. */
extern const struct capture_setting capture_settings[CAPTURE_NKEYS];

/* meshcut's own per-pod settings (MC_CAPTURE_OWN_SETTINGS: the app's
 * sockets), after those in the patch: the pod's annotation as written, or the
 * default. No istio-iptables flag. */
enum { CAPTURE_NOWN = MC_CAPTURE_NSETTINGS - MC_CAPTURE_NISTIO };
extern const struct capture_setting capture_own_settings[CAPTURE_NOWN];

/* One value per key, malloc'd, as a normalised comma list (items trimmed,
 * blanks and duplicates dropped; "" stays "" because "-b ''" means "none"). */
struct capture {
	char *value[CAPTURE_NKEYS];
};

/* Reads istio-iptables flags from argv[0..argc) as pflag does (-p 1, -p=1,
 * -p1, --envoy-port 1, --envoy-port=1, grouped booleans, "--" ends flags; the
 * last occurrence wins). Sets out[key] to a pointer into argv, or leaves it. */
void capture_parse_args(const char *const *argv, size_t argc, const char *out[CAPTURE_NKEYS]);

/* Fills c for a pod. Returns 0, or -1 when out of memory. */
int capture_from_pod(const json_t *pod, struct capture *c);
void capture_free(struct capture *c);

#endif
