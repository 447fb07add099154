/* istio_args: see istio_args.h.
 *
 * Precedence, per setting: a pod annotation wins over istio-init's flag, and
 * the flag wins over Istio's default. Istio renders istio-init's flags from
 * these very annotations at injection time, so the two normally agree; where
 * they differ the annotation is what the pod's owner asked for, and it is what
 * istio-cni reads when there is no istio-init at all. One exception, as in
 * Istio: excluded inbound ports are the union of -d and the annotation,
 * because -d also carries Istio's own ports (15090, 15021 and the status
 * port), which an annotation never lists and must not re-enable.
 *
 * And as istio-iptables does, an inbound include list (-b other than "*")
 * makes the exclude list moot: only the listed ports are redirected to 15006
 * and -d's RETURN rules are never written (istio/istio
 * tools/istio-iptables/pkg/capture/run.go, handleInboundPortsInclude, read
 * at commit 0098d99f, a 1.25-or-later tree; testdata/
 * inbound-ports-include.golden shows only the 15008 RETURN and one
 * ISTIO_IN_REDIRECT rule per listed port). meshcut-init then gets
 * MESHCUT_EXCLUDE_INBOUND_PORTS="". */
#include "istio_args.h"

#include "pod.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* built from lib/capture_settings.h */
#define CAPTURE_ROW(id, json, opt, env, kind, metavar, note, shortopt, longopt, ann, dflt, merge) \
	{ env, shortopt, longopt, ann, dflt, merge },
const struct capture_setting capture_settings[CAPTURE_NKEYS] = {
	MC_CAPTURE_ISTIO_SETTINGS(CAPTURE_ROW)
};
const struct capture_setting capture_own_settings[CAPTURE_NOWN] = {
	MC_CAPTURE_OWN_SETTINGS(CAPTURE_ROW)
};
#undef CAPTURE_ROW

/* istio-iptables flags that take a value but do not concern us: known so that
 * their values are skipped and "-ceth0,docker0" is not read as "-d ocker0".
 * Any other unknown flag is taken as a boolean, which is harmless: a value
 * left behind is a positional argument, and positionals are ignored. */
static const char other_short[] = "egckrt";
static const char *const other_long[] = {
	"inbound-tunnel-port", "proxy-gid", "istio-exclude-interfaces", "kube-virt-interfaces",
	"istio-inbound-tproxy-mark", "istio-inbound-tproxy-route-table", "iptables-probe-port",
	"probe-timeout", "network-namespace", "log_output_level", "log_target", "log_caller",
	"log_stacktrace_level", "log_rotate",
};

enum { ARG_BOOL = -1, ARG_OTHER = -2 };

/* The key a flag sets, ARG_OTHER for a value flag we skip, ARG_BOOL otherwise. */
static int key_of_short(char c)
{
	for (int k = 0; k < CAPTURE_NKEYS; k++)
		if (capture_settings[k].shortopt == c)
			return k;
	return c && strchr(other_short, c) ? ARG_OTHER : ARG_BOOL;
}

static int key_of_long(const char *name, size_t len)
{
	for (int k = 0; k < CAPTURE_NKEYS; k++)
		if (strlen(capture_settings[k].longopt) == len &&
		    memcmp(capture_settings[k].longopt, name, len) == 0)
			return k;
	for (size_t i = 0; i < sizeof(other_long) / sizeof(other_long[0]); i++)
		if (strlen(other_long[i]) == len && memcmp(other_long[i], name, len) == 0)
			return ARG_OTHER;
	return ARG_BOOL;
}

static void set(const char *out[CAPTURE_NKEYS], int key, const char *value)
{
	if (key >= 0)
		out[key] = value;
}

void capture_parse_args(const char *const *argv, size_t argc, const char *out[CAPTURE_NKEYS])
{
	for (size_t i = 0; i < argc; i++) {
		const char *a = argv[i];
		int key;

		if (!a || a[0] != '-' || a[1] == '\0')
			continue; /* positional, e.g. the "istio-iptables" subcommand */
		if (strcmp(a, "--") == 0)
			return;
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');

			key = key_of_long(name, eq ? (size_t)(eq - name) : strlen(name));
			if (eq)
				set(out, key, eq + 1);
			else if (key != ARG_BOOL && i + 1 < argc)
				set(out, key, argv[++i]);
			continue;
		}
		/* shorthand group: booleans until the first flag that takes a value,
		 * whose value is the rest of the word (after an optional '=') or the
		 * next word */
		for (const char *p = a + 1; *p; p++) {
			key = key_of_short(*p);
			if (key == ARG_BOOL)
				continue;
			if (p[1])
				set(out, key, p[1] == '=' ? p + 2 : p + 1);
			else if (i + 1 < argc)
				set(out, key, argv[++i]);
			break;
		}
	}
}

static bool list_has(const char *list, const char *item, size_t len)
{
	while (*list) {
		const char *end = strchrnul(list, ',');

		if ((size_t)(end - list) == len && memcmp(list, item, len) == 0)
			return true;
		list = *end ? end + 1 : end;
	}
	return false;
}

/* Appends the items of src to the normalised list dst (room for them is the
 * caller's business), trimmed, without blanks or duplicates. */
static void list_add(char *dst, const char *src)
{
	size_t len = strlen(dst);

	while (*src) {
		const char *end = strchrnul(src, ','), *a = src, *b = end;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a && !list_has(dst, a, (size_t)(b - a))) {
			if (len)
				dst[len++] = ',';
			memcpy(dst + len, a, (size_t)(b - a));
			len += (size_t)(b - a);
			dst[len] = '\0';
		}
		src = *end ? end + 1 : end;
	}
}

/* istio-init's command + args, or istio-validation's when there is no
 * istio-init (Istio CNI). Returns a malloc'd array of borrowed strings. */
static const char **iptables_argv(const json_t *pod, size_t *argc)
{
	static const char *const names[] = { "istio-init", "istio-validation" };
	json_t *c = NULL, *cmd, *args, *v;
	const char **argv;
	size_t i, n = 0;

	*argc = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && !c; i++)
		c = pod_find(pod, "initContainers", names[i], NULL);
	cmd = json_object_get(c, "command");
	args = json_object_get(c, "args");
	argv = calloc(json_array_size(cmd) + json_array_size(args) + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	json_array_foreach(cmd, i, v)
		argv[n++] = json_string_value(v);
	json_array_foreach(args, i, v)
		argv[n++] = json_string_value(v);
	*argc = n;
	return argv;
}

int capture_from_pod(const json_t *pod, struct capture *c)
{
	const char *flag[CAPTURE_NKEYS] = { NULL };
	size_t argc;
	const char **argv = iptables_argv(pod, &argc);

	memset(c, 0, sizeof(*c));
	if (!argv)
		return -1;
	capture_parse_args(argv, argc, flag);
	for (int k = 0; k < CAPTURE_NKEYS; k++) {
		const struct capture_setting *s = &capture_settings[k];
		const char *ann = s->annotation ? pod_annotation(pod, s->annotation) : NULL;
		const char *base = flag[k] ? flag[k] : s->fallback;

		if (ann && !s->merge)
			base = ann;
		c->value[k] = calloc(1, strlen(base) + (ann ? strlen(ann) : 0) + 2);
		if (!c->value[k]) {
			free(argv);
			capture_free(c);
			return -1;
		}
		list_add(c->value[k], base);
		if (ann && s->merge)
			list_add(c->value[k], ann);
	}
	free(argv);
	if (strcmp(c->value[CAPTURE_INCLUDE_INBOUND_PORTS], "*") != 0)
		c->value[CAPTURE_EXCLUDE_INBOUND_PORTS][0] = '\0';
	return 0;
}

void capture_free(struct capture *c)
{
	for (int k = 0; k < CAPTURE_NKEYS; k++) {
		free(c->value[k]);
		c->value[k] = NULL;
	}
}
