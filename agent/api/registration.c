/* Strict parser for registration requests: see registration.h. One small
 * function per field; the capture settings' keys come from
 * lib/capture_settings.h, which meshcut-init writes them from. */
#include "api/registration.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "capture_settings.h"

/* one registration being parsed: the result, what was seen, the error */
struct reg_parse {
	struct mc_registration *r;
	bool seen_ns, seen_name, seen_ips;
	bool incl_in_list; /* include_inbound_ports is a list (or ""), not "*" */
	__u16 excl_in[MC_MAX_PORTS], incl_in[MC_MAX_PORTS], n_excl_in, n_incl_in;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3))) static int fail(struct reg_parse *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Kubernetes names: DNS-1123 (lowercase alphanumerics, '-', '.') */
static bool k8s_name_ok(const char *s, size_t max)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return false;
	}
	return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

static int get_port(struct reg_parse *p, const char *field, json_t *v, __u16 *out)
{
	json_int_t port;

	if (!json_is_integer(v))
		return fail(p, "%s: must be an integer port", field);
	port = json_integer_value(v);
	if (port < 1 || port > 65535)
		return fail(p, "%s: %lld is out of range (1..65535)", field, (long long)port);
	*out = (__u16)port;
	return 0;
}

static const char *get_string(struct reg_parse *p, const char *field, json_t *v)
{
	if (!json_is_string(v)) {
		fail(p, "%s: must be a string", field);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		fail(p, "%s: contains a NUL byte", field);
		return NULL;
	}
	return json_string_value(v);
}

static int get_ports(struct reg_parse *p, const char *field, json_t *v, __u16 *ports, __u16 *n,
		     bool *all)
{
	char perr[MC_ERRLEN];
	uint16_t tmp[MC_MAX_PORTS];
	const char *s = get_string(p, field, v);
	size_t cnt, i;

	if (!s)
		return -1;
	if (mc_parse_ports(s, tmp, MC_MAX_PORTS, &cnt, all, perr))
		return fail(p, "%s: %s", field, perr);
	for (i = 0; i < cnt; i++)
		ports[i] = tmp[i];
	*n = (__u16)cnt;
	return 0;
}

static int get_cidrs(struct reg_parse *p, const char *field, json_t *v, struct mc_cidr *cidrs,
		     __u16 *n, bool *all)
{
	char perr[MC_ERRLEN];
	const char *s = get_string(p, field, v);
	size_t cnt;

	if (!s)
		return -1;
	if (mc_parse_cidrs(s, cidrs, MC_MAX_CIDRS, &cnt, all, perr))
		return fail(p, "%s: %s", field, perr);
	*n = (__u16)cnt;
	return 0;
}

/* --- the pod's identity and addresses --- */

static int f_namespace(struct reg_parse *p, const char *key, json_t *v)
{
	const char *s = get_string(p, key, v);

	if (!s)
		return -1;
	if (!k8s_name_ok(s, 63))
		return fail(p, "namespace: \"%.64s\" is not a Kubernetes namespace name", s);
	strcpy(p->r->namespace, s);
	p->seen_ns = true;
	return 0;
}

static int f_name(struct reg_parse *p, const char *key, json_t *v)
{
	const char *s = get_string(p, key, v);

	if (!s)
		return -1;
	if (!k8s_name_ok(s, 253))
		return fail(p, "name: \"%.64s\" is not a Kubernetes pod name", s);
	strcpy(p->r->name, s);
	p->seen_name = true;
	return 0;
}

static int f_ips(struct reg_parse *p, const char *key, json_t *v)
{
	struct mc_registration *r = p->r;
	char perr[MC_ERRLEN];
	const char *s;
	size_t i;
	json_t *e;

	(void)key;
	if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
		return fail(p, "ips: must be an array of 1 or 2 addresses");
	json_array_foreach(v, i, e) {
		struct mc_addr a;

		if (!(s = get_string(p, "ips[]", e)))
			return -1;
		if (mc_parse_ip(s, &a, perr))
			return fail(p, "ips[%zu]: %s", i, perr);
		if (mc_addr_zero(&a)) /* "::" would read as "no address" */
			return fail(p, "ips[%zu]: \"%.60s\" is the unspecified address", i, s);
		if (mc_addr_v4(&a)) {
			if (!mc_addr_zero(&r->ip4))
				return fail(p, "ips: more than one IPv4 address");
			r->ip4 = a;
		} else {
			if (!mc_addr_zero(&r->ip6))
				return fail(p, "ips: more than one IPv6 address");
			r->ip6 = a;
		}
	}
	p->seen_ips = true;
	return 0;
}

static int f_netns_cookie(struct reg_parse *p, const char *key, json_t *v)
{
	(void)key;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(p, "netns_cookie: must be a non-negative integer");
	p->r->has_netns_cookie = true;
	p->r->netns_cookie = (uint64_t)json_integer_value(v);
	return 0;
}

static int f_host_ifindex(struct reg_parse *p, const char *key, json_t *v)
{
	(void)key;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 0x7fffffff)
		return fail(p, "host_ifindex: must be a positive interface index");
	p->r->host_ifindex = (uint32_t)json_integer_value(v);
	return 0;
}

static int f_mac(struct reg_parse *p, const char *key, json_t *v)
{
	char perr[MC_ERRLEN];
	const char *s = get_string(p, key, v);

	if (!s)
		return -1;
	if (mc_parse_mac(s, p->r->mac, perr))
		return fail(p, "mac: %s", perr);
	p->r->has_mac = true;
	return 0;
}

static const struct {
	const char *key;
	int (*parse)(struct reg_parse *p, const char *key, json_t *v);
} pod_fields[] = {
	{ "namespace", f_namespace },	    { "name", f_name },		{ "ips", f_ips },
	{ "netns_cookie", f_netns_cookie }, { "host_ifindex", f_host_ifindex }, { "mac", f_mac },
};

/* --- the capture settings (lib/capture_settings.h) --- */

static const char *const capture_keys[MC_CAPTURE_NSETTINGS] = {
#define CAPTURE_KEY(id, json, ...) [MC_CAPTURE_##id] = json,
	MC_CAPTURE_SETTINGS(CAPTURE_KEY)
#undef CAPTURE_KEY
};

static int f_proxy_uid(struct reg_parse *p, json_t *v)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xfffffffe)
		return fail(p, "proxy_uid: must be a uid (0..4294967294)");
	p->r->policy.proxy_uid = (__u32)json_integer_value(v);
	return 0;
}

static int f_include_outbound_ports(struct reg_parse *p, const char *key, json_t *v)
{
	__u16 tmp[MC_MAX_PORTS], n = 0;

	if (get_ports(p, key, v, tmp, &n, NULL))
		return -1;
	if (n)
		return fail(p, "include_outbound_ports: not supported by meshcut; this pod cannot be accelerated");
	return 0;
}

/* one of two words: `on` sets flag, `off` is the default (app_sockets, app_reads) */
static int f_choice(struct reg_parse *p, const char *key, json_t *v, const char *on,
		    const char *off, __u32 flag)
{
	const char *s = get_string(p, key, v);

	if (!s)
		return -1;
	if (!strcmp(s, on))
		p->r->policy.flags |= flag;
	else if (strcmp(s, off))
		return fail(p, "%s: \"%.16s\" is neither \"%s\" nor \"%s\"", key, s, on, off);
	return 0;
}

static int f_interception_mode(struct reg_parse *p, const char *key, json_t *v)
{
	const char *s = get_string(p, key, v);

	if (!s)
		return -1;
	if (strcmp(s, "REDIRECT"))
		return fail(p, "interception_mode: \"%.16s\" is not supported (only REDIRECT); this pod cannot be accelerated", s);
	return 0;
}

/* Where each setting goes. No default case: a row added to the table without
 * a case here is a compile error (-Wswitch). */
static int capture_field(struct reg_parse *p, enum mc_capture_id id, const char *key, json_t *v)
{
	struct mc_pod *pol = &p->r->policy;
	bool all;

	switch (id) {
	case MC_CAPTURE_OUTBOUND_PORT: return get_port(p, key, v, &pol->outbound_port);
	case MC_CAPTURE_INBOUND_PORT: return get_port(p, key, v, &pol->inbound_port);
	case MC_CAPTURE_PROXY_UID: return f_proxy_uid(p, v);
	case MC_CAPTURE_EXCLUDE_INBOUND_PORTS:
		return get_ports(p, key, v, p->excl_in, &p->n_excl_in, NULL);
	case MC_CAPTURE_INCLUDE_INBOUND_PORTS:
		if (get_ports(p, key, v, p->incl_in, &p->n_incl_in, &all))
			return -1;
		p->incl_in_list = !all;
		return 0;
	case MC_CAPTURE_EXCLUDE_OUTBOUND_PORTS:
		return get_ports(p, key, v, pol->out_ports, &pol->n_out_ports, NULL);
	case MC_CAPTURE_EXCLUDE_OUTBOUND_CIDRS:
		return get_cidrs(p, key, v, pol->out_cidrs_excl, &pol->n_cidrs_excl, NULL);
	case MC_CAPTURE_INCLUDE_OUTBOUND_CIDRS:
		if (get_cidrs(p, key, v, pol->out_cidrs_incl, &pol->n_cidrs_incl, &all))
			return -1;
		if (!all)
			pol->flags |= MC_POD_OUT_CIDRS_ONLY;
		return 0;
	case MC_CAPTURE_INCLUDE_OUTBOUND_PORTS: return f_include_outbound_ports(p, key, v);
	case MC_CAPTURE_INTERCEPTION_MODE: return f_interception_mode(p, key, v);
	case MC_CAPTURE_APP_SOCKETS: return f_choice(p, key, v, "tcp", "shortcut", MC_POD_APP_TCP);
	case MC_CAPTURE_APP_READS:
		return f_choice(p, key, v, "recv", "any", MC_POD_APP_READS_RECV);
	case MC_CAPTURE_NSETTINGS: break;
	}
	return fail(p, "unknown field \"%.40s\"", key);
}

static int parse_field(struct reg_parse *p, const char *key, json_t *v)
{
	for (size_t i = 0; i < sizeof(pod_fields) / sizeof(pod_fields[0]); i++)
		if (!strcmp(key, pod_fields[i].key))
			return pod_fields[i].parse(p, key, v);
	for (int k = 0; k < MC_CAPTURE_NSETTINGS; k++)
		if (!strcmp(key, capture_keys[k]))
			return capture_field(p, (enum mc_capture_id)k, key, v);
	return fail(p, "unknown field \"%.40s\"", key);
}

/* What holds only for the request as a whole. */
static int finish(struct reg_parse *p)
{
	struct mc_pod *pol = &p->r->policy;

	/* As istio-iptables (tools/istio-iptables/pkg/capture/run.go,
	 * handleInboundPortsInclude): with "-b *" the exclude list (-d, which
	 * always holds 15090,15021 and the status port) becomes RETURN rules
	 * before the catch-all redirect; with a list (or "") only the listed
	 * ports are redirected and the exclude list plays no part. Pods with
	 * traffic.sidecar.istio.io/includeInboundPorts send both. */
	if (p->incl_in_list) {
		memcpy(pol->in_ports, p->incl_in, sizeof(p->incl_in));
		pol->n_in_ports = p->n_incl_in;
		pol->flags |= MC_POD_IN_PORTS_ONLY;
	} else {
		memcpy(pol->in_ports, p->excl_in, sizeof(p->excl_in));
		pol->n_in_ports = p->n_excl_in;
	}
	if (!p->seen_ns || !p->seen_name || !p->seen_ips)
		return fail(p, "missing field \"%s\"",
			    !p->seen_ns ? "namespace" : !p->seen_name ? "name" : "ips");
	if (pol->outbound_port == pol->inbound_port)
		return fail(p, "outbound_port and inbound_port must differ");
	return 0;
}

int mc_registration_parse(const char *body, size_t len, struct mc_registration *r, char *err,
			  size_t errlen)
{
	struct reg_parse p = { .r = r, .err = err, .errlen = errlen };
	json_error_t jerr;
	const char *key;
	json_t *root, *v;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->policy.outbound_port = 15001;
	r->policy.inbound_port = 15006;
	r->policy.proxy_uid = 1337;
	if (len > MC_REG_MAX_BODY)
		return fail(&p, "request body over %d bytes", MC_REG_MAX_BODY);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(&p, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
			    jerr.text);
	if (!json_is_object(root))
		rc = fail(&p, "the request must be a JSON object");
	json_object_foreach(root, key, v) {
		if (rc)
			break;
		rc = parse_field(&p, key, v);
	}
	if (!rc)
		rc = finish(&p);
	json_decref(root);
	return rc;
}
