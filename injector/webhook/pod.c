/* pod: see pod.h. The rules, in order: hostNetwork pods, opted-out pods and
 * pods captured by Istio ambient (ztunnel) are left alone, a pod that already has meshcut-init is left alone (the API server
 * may call us again after a later webhook: reinvocationPolicy IfNeeded), and
 * only pods that Istio has already given a sidecar are injected. */
#include "pod.h"

#include <string.h>
#include <strings.h>

static const char *meta_string(const json_t *pod, const char *map, const char *key)
{
	json_t *v = json_object_get(json_object_get(json_object_get(pod, "metadata"), map), key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *pod_annotation(const json_t *pod, const char *key)
{
	return meta_string(pod, "annotations", key);
}

const char *pod_label(const json_t *pod, const char *key)
{
	return meta_string(pod, "labels", key);
}

json_t *pod_list(const json_t *pod, const char *list)
{
	json_t *v = json_object_get(json_object_get(pod, "spec"), list);

	return json_is_array(v) ? v : NULL;
}

json_t *pod_find(const json_t *pod, const char *list, const char *name, size_t *index)
{
	json_t *items = pod_list(pod, list), *item;
	size_t i;

	json_array_foreach(items, i, item) {
		const char *n = json_string_value(json_object_get(item, "name"));

		if (n && strcmp(n, name) == 0) {
			if (index)
				*index = i;
			return item;
		}
	}
	return NULL;
}

/* Opt-out values. Istio itself treats any value but y/yes/true/on as "do not
 * inject"; these are the spellings of "no" people actually write. */
static bool is_no(const char *v)
{
	static const char *const no[] = { "false", "no", "n", "off", "0" };

	if (!v)
		return false;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(v, no[i]) == 0)
			return true;
	return false;
}

static bool is(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}

static bool opted_out(const json_t *pod)
{
	static const char *const keys[] = { "meshcut.io/inject", "sidecar.istio.io/inject" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (is_no(pod_annotation(pod, keys[i])) || is_no(pod_label(pod, keys[i])))
			return true;
	return false;
}

struct pod_decision pod_decide(const json_t *pod)
{
	struct pod_decision d = { .inject = false, .sidecar = POD_SIDECAR_NONE };
	json_t *proxy;
	size_t i;

	if (!json_is_object(pod) || !json_is_object(json_object_get(pod, "spec"))) {
		d.reason = "not a pod";
		return d;
	}
	if (json_is_true(json_object_get(json_object_get(pod, "spec"), "hostNetwork"))) {
		d.reason = "hostNetwork pod";
		return d;
	}
	if (opted_out(pod)) {
		d.reason = "opted out";
		return d;
	}
	/* ztunnel, not a sidecar, carries its traffic: meshcut pairs only the
	 * sockets of sidecar pods, never ztunnel's. Keyed on the pod, not the
	 * namespace: Istio keeps sidecar pods in an ambient namespace sidecars. */
	if (is(pod_annotation(pod, POD_AMBIENT_ANNOTATION), POD_AMBIENT_ENABLED)) {
		d.reason = "captured by Istio ambient (" POD_AMBIENT_ANNOTATION ": " POD_AMBIENT_ENABLED ")";
		return d;
	}
	if (pod_find(pod, "initContainers", POD_INIT_NAME, NULL)) {
		d.reason = "already injected";
		return d;
	}
	proxy = pod_find(pod, "initContainers", POD_PROXY_NAME, &i);
	if (proxy) {
		const char *rp = json_string_value(json_object_get(proxy, "restartPolicy"));

		if (rp && strcmp(rp, "Always") == 0) {
			d.sidecar = POD_SIDECAR_NATIVE;
			d.proxy_index = i;
		}
	}
	if (d.sidecar == POD_SIDECAR_NONE &&
	    (pod_find(pod, "containers", POD_PROXY_NAME, NULL) ||
	     pod_annotation(pod, "sidecar.istio.io/status")))
		d.sidecar = POD_SIDECAR_CLASSIC;
	if (d.sidecar == POD_SIDECAR_NONE) {
		d.reason = "no Istio sidecar (yet)";
		return d;
	}
	d.inject = true;
	d.reason = d.sidecar == POD_SIDECAR_NATIVE ? "native sidecar" : "classic sidecar";
	return d;
}
