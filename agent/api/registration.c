/* Strict parser for registration requests: see registration.h. */
#include "registration.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

#define FAIL(...)                                          \
	do {                                               \
		snprintf(err, errlen, __VA_ARGS__);        \
		goto fail;                                 \
	} while (0)

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

static int get_port(json_t *v, const char *field, __u16 *out, char *err, size_t errlen)
{
	json_int_t p;

	if (!json_is_integer(v)) {
		snprintf(err, errlen, "%s: must be an integer port", field);
		return -1;
	}
	p = json_integer_value(v);
	if (p < 1 || p > 65535) {
		snprintf(err, errlen, "%s: %lld is out of range (1..65535)", field, (long long)p);
		return -1;
	}
	*out = (__u16)p;
	return 0;
}

static const char *get_string(json_t *v, const char *field, char *err, size_t errlen)
{
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s: must be a string", field);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s: contains a NUL byte", field);
		return NULL;
	}
	return json_string_value(v);
}

static int ports_field(json_t *v, const char *field, __u16 *ports, __u16 *n, bool *all,
		       char *err, size_t errlen)
{
	char perr[MC_ERRLEN];
	uint16_t tmp[MC_MAX_PORTS];
	const char *s = get_string(v, field, err, errlen);
	size_t cnt, i;

	if (!s)
		return -1;
	if (mc_parse_ports(s, tmp, MC_MAX_PORTS, &cnt, all, perr)) {
		snprintf(err, errlen, "%s: %s", field, perr);
		return -1;
	}
	for (i = 0; i < cnt; i++)
		ports[i] = tmp[i];
	*n = (__u16)cnt;
	return 0;
}

static int cidrs_field(json_t *v, const char *field, struct mc_cidr *cidrs, __u16 *n, bool *all,
		       char *err, size_t errlen)
{
	char perr[MC_ERRLEN];
	const char *s = get_string(v, field, err, errlen);
	size_t cnt;

	if (!s)
		return -1;
	if (mc_parse_cidrs(s, cidrs, MC_MAX_CIDRS, &cnt, all, perr)) {
		snprintf(err, errlen, "%s: %s", field, perr);
		return -1;
	}
	*n = (__u16)cnt;
	return 0;
}

int mc_registration_parse(const char *body, size_t len, struct mc_registration *r, char *err,
			  size_t errlen)
{
	struct mc_pod *pol = &r->policy;
	bool all, seen_ns = false, seen_name = false, seen_ips = false, incl_in_list = false;
	__u16 excl_in[MC_MAX_PORTS] = { 0 }, incl_in[MC_MAX_PORTS] = { 0 }, n_excl_in = 0, n_incl_in = 0;
	json_error_t jerr;
	const char *key, *s;
	json_t *root, *v;
	char perr[MC_ERRLEN];

	memset(r, 0, sizeof(*r));
	pol->outbound_port = 15001;
	pol->inbound_port = 15006;
	pol->proxy_uid = 1337;
	if (len > MC_REG_MAX_BODY) {
		snprintf(err, errlen, "request body over %d bytes", MC_REG_MAX_BODY);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "malformed JSON at line %d column %d: %s", jerr.line,
			 jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_object(root))
		FAIL("the request must be a JSON object");

	json_object_foreach(root, key, v) {
		if (!strcmp(key, "namespace")) {
			if (!(s = get_string(v, key, err, errlen)))
				goto fail;
			if (!k8s_name_ok(s, 63))
				FAIL("namespace: \"%.64s\" is not a Kubernetes namespace name", s);
			strcpy(r->namespace, s);
			seen_ns = true;
		} else if (!strcmp(key, "name")) {
			if (!(s = get_string(v, key, err, errlen)))
				goto fail;
			if (!k8s_name_ok(s, 253))
				FAIL("name: \"%.64s\" is not a Kubernetes pod name", s);
			strcpy(r->name, s);
			seen_name = true;
		} else if (!strcmp(key, "ips")) {
			size_t i;
			json_t *e;

			if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
				FAIL("ips: must be an array of 1 or 2 addresses");
			json_array_foreach(v, i, e) {
				struct mc_addr a;

				if (!(s = get_string(e, "ips[]", err, errlen)))
					goto fail;
				if (mc_parse_ip(s, &a, perr))
					FAIL("ips[%zu]: %s", i, perr);
				if (mc_addr_zero(&a)) /* "::" would read as "no address" */
					FAIL("ips[%zu]: \"%.60s\" is the unspecified address", i, s);
				if (mc_addr_v4(&a)) {
					if (!mc_addr_zero(&r->ip4))
						FAIL("ips: more than one IPv4 address");
					r->ip4 = a;
				} else {
					if (!mc_addr_zero(&r->ip6))
						FAIL("ips: more than one IPv6 address");
					r->ip6 = a;
				}
			}
			seen_ips = true;
		} else if (!strcmp(key, "netns_cookie")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				FAIL("netns_cookie: must be a non-negative integer");
			r->has_netns_cookie = true;
			r->netns_cookie = (uint64_t)json_integer_value(v);
		} else if (!strcmp(key, "host_ifindex")) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 0x7fffffff)
				FAIL("host_ifindex: must be a positive interface index");
			r->host_ifindex = (uint32_t)json_integer_value(v);
		} else if (!strcmp(key, "mac")) {
			if (!(s = get_string(v, key, err, errlen)))
				goto fail;
			if (mc_parse_mac(s, r->mac, perr))
				FAIL("mac: %s", perr);
			r->has_mac = true;
		} else if (!strcmp(key, "outbound_port")) {
			if (get_port(v, key, &pol->outbound_port, err, errlen))
				goto fail;
		} else if (!strcmp(key, "inbound_port")) {
			if (get_port(v, key, &pol->inbound_port, err, errlen))
				goto fail;
		} else if (!strcmp(key, "proxy_uid")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 0xfffffffe)
				FAIL("proxy_uid: must be a uid (0..4294967294)");
			pol->proxy_uid = (__u32)json_integer_value(v);
		} else if (!strcmp(key, "exclude_inbound_ports")) {
			if (ports_field(v, key, excl_in, &n_excl_in, NULL, err, errlen))
				goto fail;
		} else if (!strcmp(key, "include_inbound_ports")) {
			if (ports_field(v, key, incl_in, &n_incl_in, &all, err, errlen))
				goto fail;
			incl_in_list = !all;
		} else if (!strcmp(key, "exclude_outbound_ports")) {
			if (ports_field(v, key, pol->out_ports, &pol->n_out_ports, NULL, err, errlen))
				goto fail;
		} else if (!strcmp(key, "include_outbound_ports")) {
			__u16 tmp[MC_MAX_PORTS], n = 0;

			if (ports_field(v, key, tmp, &n, NULL, err, errlen))
				goto fail;
			if (n)
				FAIL("include_outbound_ports: not supported by meshcut; this pod cannot be accelerated");
		} else if (!strcmp(key, "exclude_outbound_cidrs")) {
			if (cidrs_field(v, key, pol->out_cidrs_excl, &pol->n_cidrs_excl, NULL, err,
					errlen))
				goto fail;
		} else if (!strcmp(key, "include_outbound_cidrs")) {
			if (cidrs_field(v, key, pol->out_cidrs_incl, &pol->n_cidrs_incl, &all, err,
					errlen))
				goto fail;
			if (!all)
				pol->flags |= MC_POD_OUT_CIDRS_ONLY;
		} else if (!strcmp(key, "app_sockets")) {
			if (!(s = get_string(v, key, err, errlen)))
				goto fail;
			if (!strcmp(s, "tcp"))
				pol->flags |= MC_POD_APP_TCP;
			else if (strcmp(s, "shortcut"))
				FAIL("app_sockets: \"%.16s\" is neither \"tcp\" nor \"shortcut\"", s);
		} else if (!strcmp(key, "interception_mode")) {
			if (!(s = get_string(v, key, err, errlen)))
				goto fail;
			if (strcmp(s, "REDIRECT"))
				FAIL("interception_mode: \"%.16s\" is not supported (only REDIRECT); this pod cannot be accelerated", s);
		} else {
			FAIL("unknown field \"%.40s\"", key);
		}
	}
	/* As istio-iptables (tools/istio-iptables/pkg/capture/run.go,
	 * handleInboundPortsInclude): with "-b *" the exclude list (-d, which
	 * always holds 15090,15021 and the status port) becomes RETURN rules
	 * before the catch-all redirect; with a list (or "") only the listed
	 * ports are redirected and the exclude list plays no part. Pods with
	 * traffic.sidecar.istio.io/includeInboundPorts send both. */
	if (incl_in_list) {
		memcpy(pol->in_ports, incl_in, sizeof(incl_in));
		pol->n_in_ports = n_incl_in;
		pol->flags |= MC_POD_IN_PORTS_ONLY;
	} else {
		memcpy(pol->in_ports, excl_in, sizeof(excl_in));
		pol->n_in_ports = n_excl_in;
	}
	if (!seen_ns || !seen_name || !seen_ips)
		FAIL("missing field \"%s\"", !seen_ns ? "namespace" : !seen_name ? "name" : "ips");
	if (pol->outbound_port == pol->inbound_port)
		FAIL("outbound_port and inbound_port must differ");
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	return -1;
}
