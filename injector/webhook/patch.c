/* patch: see patch.h. A JSON Patch "add" needs the parent to exist, and "/-"
 * needs the array to exist: each list or map is created whole when the pod
 * lacks it (or has it as null), appended to otherwise. */
#include "patch.h"

#include "istio_args.h"

#include <stdio.h>

static json_t *env_field(const char *name, const char *path)
{
	return json_pack("{s:s, s:{s:{s:s, s:s}}}", "name", name, "valueFrom", "fieldRef",
			 "apiVersion", "v1", "fieldPath", path);
}

/* Downward API first (meshcut-init registers the pod by name and IPs; it
 * leaves a pod alone that Istio ambient captured after admission: istio-cni
 * annotates it before init containers run), then what istio-iptables
 * captures, in capture_settings order. */
static json_t *init_env(const json_t *pod, const struct inject_cfg *cfg)
{
	json_t *env = json_pack("[o, o, o, o, o]", env_field("POD_NAME", "metadata.name"),
				env_field("POD_NAMESPACE", "metadata.namespace"),
				env_field("POD_IPS", "status.podIPs"),
				env_field("POD_IP", "status.podIP"),
				env_field("POD_AMBIENT_REDIRECTION",
					  "metadata.annotations['" POD_AMBIENT_ANNOTATION "']"));
	struct capture c;

	if (!env || capture_from_pod(pod, &c) < 0) {
		json_decref(env);
		return NULL;
	}
	for (int k = 0; k < CAPTURE_NKEYS; k++) {
		if (json_array_append_new(env, json_pack("{s:s, s:s}", "name", capture_settings[k].env,
							 "value", c.value[k])) < 0) {
			json_decref(env);
			env = NULL;
			break;
		}
	}
	capture_free(&c);
	/* the owner's choice for the app's own sockets, passed as written:
	 * meshcut-init refuses a value it does not know (the pod then stays
	 * on TCP altogether) */
	for (int k = 0; env && k < CAPTURE_NOWN; k++) {
		const struct capture_setting *s = &capture_own_settings[k];
		const char *v = pod_annotation(pod, s->annotation);

		if (json_array_append_new(env, json_pack("{s:s, s:s}", "name", s->env, "value",
							 v ? v : s->fallback)) < 0) {
			json_decref(env);
			env = NULL;
		}
	}
	/* last, and only when set: a text-logging cluster's pods are unchanged */
	if (env && cfg->log_json &&
	    json_array_append_new(env, json_pack("{s:s, s:s}", "name", "MESHCUT_LOG_FORMAT", "value",
						 "json"))) {
		json_decref(env);
		env = NULL;
	}
	return env;
}

static json_t *quantities(const char *cpu, const char *memory)
{
	json_t *q = json_object();

	if (*cpu)
		json_object_set_new(q, "cpu", json_string(cpu));
	if (*memory)
		json_object_set_new(q, "memory", json_string(memory));
	return q;
}

static json_t *init_resources(const struct inject_cfg *cfg)
{
	json_t *r = json_object(), *req = quantities(cfg->cpu_request, cfg->memory_request),
	       *lim = quantities(cfg->cpu_limit, cfg->memory_limit);

	if (json_object_size(req))
		json_object_set(r, "requests", req);
	if (json_object_size(lim))
		json_object_set(r, "limits", lim);
	json_decref(req);
	json_decref(lim);
	return r;
}

/* meshcut-init only connects to a Unix socket: it needs no capability, no
 * root and no writable file system (RuntimeDefault seccomp keeps it eligible
 * for the "restricted" Pod Security level, hostPath aside). */
static json_t *init_security(const struct inject_cfg *cfg)
{
	return json_pack("{s:b, s:I, s:I, s:b, s:b, s:{s:[s]}, s:b, s:{s:s}}", "runAsNonRoot", 1,
			 "runAsUser", (json_int_t)cfg->run_as_user, "runAsGroup",
			 (json_int_t)cfg->run_as_group, "allowPrivilegeEscalation", 0, "privileged", 0,
			 "capabilities", "drop", "ALL", "readOnlyRootFilesystem", 1, "seccompProfile",
			 "type", "RuntimeDefault");
}

static json_t *init_container(const json_t *pod, const struct inject_cfg *cfg)
{
	return json_pack("{s:s, s:s, s:[s], s:o, s:o, s:o, s:[{s:s, s:s, s:b}], s:s}", "name",
			 POD_INIT_NAME, "image", cfg->image, "command", "/usr/local/bin/meshcut-init",
			 "env", init_env(pod, cfg), "resources", init_resources(cfg), "securityContext",
			 init_security(cfg), "volumeMounts", "name", PATCH_VOLUME_NAME, "mountPath",
			 PATCH_SOCKET_MOUNT, "readOnly", 1, "terminationMessagePolicy",
			 "FallbackToLogsOnError");
}

static int add_op(json_t *patch, const char *path, json_t *value)
{
	if (!value)
		return -1;
	return json_array_append_new(patch, json_pack("{s:s, s:s, s:o}", "op", "add", "path", path,
						      "value", value));
}

/* Appends item to spec.<list>, or creates the list with it. */
static int add_to_list(json_t *patch, const json_t *pod, const char *list, json_t *item)
{
	char path[64];

	if (pod_list(pod, list)) {
		snprintf(path, sizeof(path), "/spec/%s/-", list);
		return add_op(patch, path, item);
	}
	snprintf(path, sizeof(path), "/spec/%s", list);
	return add_op(patch, path, item ? json_pack("[o]", item) : NULL);
}

/* Where meshcut-init goes. Classic sidecar: last, so it runs after istio-init
 * has installed the redirect rules it mirrors (and after any init container
 * Istio may add later in the list). Native sidecar: right after the istio-proxy
 * init container, because the kubelet starts init containers in order and
 * waits for a restartPolicy Always one to be started: by then the sandbox (and
 * so the pod IP) and the sidecar exist, and every later init container and
 * every app container already gets the shortcut. */
static int add_init_container(json_t *patch, const json_t *pod, const struct pod_decision *d,
			      json_t *c)
{
	char path[64];

	if (d->sidecar != POD_SIDECAR_NATIVE)
		return add_to_list(patch, pod, "initContainers", c);
	snprintf(path, sizeof(path), "/spec/initContainers/%zu", d->proxy_index + 1);
	return add_op(patch, path, c);
}

static int add_status(json_t *patch, const json_t *pod)
{
	json_t *meta = json_object_get(pod, "metadata");

	if (!json_is_object(meta))
		return add_op(patch, "/metadata",
			      json_pack("{s:{s:s}}", "annotations", PATCH_STATUS_KEY, "injected"));
	if (!json_is_object(json_object_get(meta, "annotations")))
		return add_op(patch, "/metadata/annotations",
			      json_pack("{s:s}", PATCH_STATUS_KEY, "injected"));
	/* RFC 6901: '/' in a key is written "~1" ('~' would be "~0") */
	return add_op(patch, "/metadata/annotations/meshcut.io~1status", json_string("injected"));
}

json_t *patch_build(const json_t *pod, const struct pod_decision *d, const struct inject_cfg *cfg)
{
	json_t *patch = json_array();

	if (!patch)
		return NULL;
	if (add_init_container(patch, pod, d, init_container(pod, cfg)) < 0)
		goto fail;
	/* a volume of that name left by an earlier, partial injection is reused:
	 * two volumes with one name would make the pod invalid. DirectoryOrCreate,
	 * not Directory: on a node without a running agent (not scheduled yet,
	 * left out by affinity, crash-looping before it made the directory) the
	 * kubelet would refuse to mount a missing directory and the pod would sit
	 * in ContainerCreating; this way meshcut-init finds no socket, waits
	 * MESHCUT_WAIT and lets the pod start without meshcut. */
	if (!pod_find(pod, "volumes", PATCH_VOLUME_NAME, NULL) &&
	    add_to_list(patch, pod, "volumes",
			json_pack("{s:s, s:{s:s, s:s}}", "name", PATCH_VOLUME_NAME, "hostPath", "path",
				  cfg->socket_dir, "type", "DirectoryOrCreate")) < 0)
		goto fail;
	if (add_status(patch, pod) < 0)
		goto fail;
	return patch;
fail:
	json_decref(patch);
	return NULL;
}
