/* Reading an admitted pod (the AdmissionReview's request.object) and deciding
 * whether meshcut-init belongs in it. Read-only: patch.c writes. */
#ifndef MESHCUT_WEBHOOK_POD_H
#define MESHCUT_WEBHOOK_POD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define POD_INIT_NAME "meshcut-init"
#define POD_PROXY_NAME "istio-proxy"
/* Istio ambient: the istio-cni node agent sets this to "enabled" on a pod
 * whose traffic ztunnel captures (during CNI ADD, before init containers) */
#define POD_AMBIENT_ANNOTATION "ambient.istio.io/redirection"
#define POD_AMBIENT_ENABLED "enabled"

/* metadata.annotations[key] / metadata.labels[key] when it is a string, else NULL. */
const char *pod_annotation(const json_t *pod, const char *key);
const char *pod_label(const json_t *pod, const char *key);

/* spec.<list> ("containers", "initContainers", "volumes") when it is an array, else NULL. */
json_t *pod_list(const json_t *pod, const char *list);

/* The element of spec.<list> whose "name" is name, and its index; NULL if none. */
json_t *pod_find(const json_t *pod, const char *list, const char *name, size_t *index);

enum pod_sidecar {
	POD_SIDECAR_NONE,
	POD_SIDECAR_CLASSIC, /* istio-proxy is a regular container (or only the status annotation) */
	POD_SIDECAR_NATIVE,  /* istio-proxy is an init container with restartPolicy Always */
};

struct pod_decision {
	bool inject;
	const char *reason;      /* why not (static string), or how */
	enum pod_sidecar sidecar;
	size_t proxy_index;      /* POD_SIDECAR_NATIVE: istio-proxy's index in initContainers */
};

/* Decides for one pod; never fails, a pod it cannot read is simply not injected. */
struct pod_decision pod_decide(const json_t *pod);

#endif
