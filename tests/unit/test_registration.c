/* Unit tests of agent/api/registration: the strict parser of POST /v1/pods. Every
 * refusal must name the field; accepted requests must come back exactly as
 * the registry will store them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "api/registration.h"

#define BASE "\"namespace\": \"default\", \"name\": \"productpage-7d4f\", \"ips\": [\"10.244.1.11\"]"

static struct mc_registration r;
static char err[256];

static void ok(const char *body)
{
	memset(err, 0, sizeof(err));
	if (mc_registration_parse(body, strlen(body), &r, err, sizeof(err)))
		fail_msg("refused %s: %s", body, err);
}

/* refused, with a message that contains want */
static void bad(const char *body, const char *want)
{
	memset(err, 0, sizeof(err));
	if (mc_registration_parse(body, strlen(body), &r, err, sizeof(err)) == 0)
		fail_msg("accepted %s", body);
	if (!strstr(err, want))
		fail_msg("%s: message \"%s\" does not say \"%s\"", body, err, want);
}

/* BASE plus one more member */
static void bad1(const char *member, const char *want)
{
	char body[1024];

	snprintf(body, sizeof(body), "{" BASE ", %s}", member);
	bad(body, want);
}

static void ok1(const char *member)
{
	char body[1024];

	snprintf(body, sizeof(body), "{" BASE ", %s}", member);
	ok(body);
}

/* the parsed inbound policy: "only these ports" or "all but these", then the ports */
static void in_ports(bool only, size_t n, ...)
{
	va_list ap;

	assert_int_equal(!!(r.policy.flags & MC_POD_IN_PORTS_ONLY), only);
	assert_int_equal(r.policy.n_in_ports, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r.policy.in_ports[i], va_arg(ap, int));
	va_end(ap);
}

static void test_full(void **state)
{
	struct mc_addr a;
	char e[MC_ERRLEN];

	(void)state;
	ok("{\"namespace\": \"default\", \"name\": \"productpage-7d4f\","
	   " \"ips\": [\"10.244.1.11\", \"fd00::11\"], \"netns_cookie\": 12345,"
	   " \"host_ifindex\": 7, \"mac\": \"0a:58:0a:f4:01:0b\","
	   " \"outbound_port\": 15001, \"inbound_port\": 15006, \"proxy_uid\": 1337,"
	   " \"exclude_inbound_ports\": \"15090,15021\", \"include_inbound_ports\": \"*\","
	   " \"exclude_outbound_ports\": \"\", \"exclude_outbound_cidrs\": \"10.0.0.0/8\","
	   " \"include_outbound_cidrs\": \"*\", \"include_outbound_ports\": \"\","
	   " \"interception_mode\": \"REDIRECT\"}");
	assert_string_equal(r.namespace, "default");
	assert_string_equal(r.name, "productpage-7d4f");
	mc_parse_ip("10.244.1.11", &a, e);
	assert_memory_equal(&r.ip4, &a, sizeof(a));
	mc_parse_ip("fd00::11", &a, e);
	assert_memory_equal(&r.ip6, &a, sizeof(a));
	assert_true(r.has_netns_cookie);
	assert_int_equal(r.netns_cookie, 12345);
	assert_int_equal(r.host_ifindex, 7);
	assert_true(r.has_mac);
	assert_int_equal(r.mac[3], 0xf4);
	assert_int_equal(r.policy.outbound_port, 15001);
	assert_int_equal(r.policy.inbound_port, 15006);
	assert_int_equal(r.policy.proxy_uid, 1337);
	assert_int_equal(r.policy.n_in_ports, 2);
	assert_int_equal(r.policy.in_ports[0], 15090);
	assert_int_equal(r.policy.in_ports[1], 15021);
	assert_int_equal(r.policy.flags, 0);
	assert_int_equal(r.policy.n_out_ports, 0);
	assert_int_equal(r.policy.n_cidrs_excl, 1);
	assert_int_equal(r.policy.out_cidrs_excl[0].prefix_len, 104);
	assert_int_equal(r.policy.n_cidrs_incl, 0);
}

static void test_minimal_and_defaults(void **state)
{
	(void)state;
	ok("{" BASE "}");
	assert_false(r.has_netns_cookie);
	assert_false(r.has_mac);
	assert_int_equal(r.host_ifindex, 0);
	assert_true(mc_addr_zero(&r.ip6));
	assert_int_equal(r.policy.outbound_port, 15001);
	assert_int_equal(r.policy.inbound_port, 15006);
	assert_int_equal(r.policy.proxy_uid, 1337);
	assert_int_equal(r.policy.flags, 0);
	/* field order does not matter */
	ok("{\"ips\": [\"fd00::1\"], \"name\": \"a\", \"namespace\": \"b\"}");
	assert_true(mc_addr_zero(&r.ip4));
	assert_false(mc_addr_v4(&r.ip6));
	/* a v4-mapped IPv6 text is the pod's IPv4 address */
	ok("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"::ffff:10.0.0.1\", \"fd00::1\"]}");
	assert_true(mc_addr_v4(&r.ip4));
	assert_false(mc_addr_zero(&r.ip6));
}

static void test_include_lists(void **state)
{
	(void)state;
	ok1("\"include_inbound_ports\": \"8080,9000-9002\"");
	in_ports(true, 4, 8080, 9000, 9001, 9002);
	/* an empty include list captures nothing (istio-iptables -b "") */
	ok1("\"include_inbound_ports\": \"\"");
	in_ports(true, 0);
	ok1("\"include_outbound_cidrs\": \"10.96.0.0/12,fd00::/8\"");
	assert_true(r.policy.flags & MC_POD_OUT_CIDRS_ONLY);
	assert_int_equal(r.policy.n_cidrs_incl, 2);
	ok1("\"include_outbound_cidrs\": \"*\"");
	assert_false(r.policy.flags & MC_POD_OUT_CIDRS_ONLY);
	bad1("\"include_outbound_ports\": \"80\"", "include_outbound_ports: not supported");
	ok1("\"include_outbound_ports\": \"\"");
}

/* An include list with an exclude list, as every pod with Istio's annotation
 * traffic.sidecar.istio.io/includeInboundPorts: "8080,9090" registers (-d
 * always carries 15090,15021,15020): istio-iptables then redirects only the
 * listed ports and the exclude list plays no part, whatever the field order.
 * It used to be refused, and such pods ran without meshcut. */
static void test_include_with_exclude(void **state)
{
	static const char *const bodies[] = {
		"\"exclude_inbound_ports\": \"15090,15021,15020,81\", \"include_inbound_ports\": \"8080,9090\"",
		"\"include_inbound_ports\": \"8080,9090\", \"exclude_inbound_ports\": \"15090,15021,15020,81\"",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		ok1(bodies[i]);
		in_ports(true, 2, 8080, 9090);
	}
	/* "-b ''" captures nothing inbound: the exclude list plays no part either */
	ok1("\"exclude_inbound_ports\": \"15090\", \"include_inbound_ports\": \"\"");
	in_ports(true, 0);
	/* "*": the exclude list is what stays out, in either order */
	ok1("\"include_inbound_ports\": \"*\", \"exclude_inbound_ports\": \"15090,81\"");
	in_ports(false, 2, 15090, 81);
	/* an exclude list the include list makes moot is still checked */
	bad1("\"include_inbound_ports\": \"80\", \"exclude_inbound_ports\": \"x\"",
	     "exclude_inbound_ports:");
	bad1("\"include_inbound_ports\": \"80\", \"exclude_inbound_ports\": 81",
	     "exclude_inbound_ports: must be a string");
}

static void test_app_sockets(void **state)
{
	(void)state;
	ok1("\"app_sockets\": \"tcp\"");
	assert_int_equal(r.policy.flags, MC_POD_APP_TCP);
	ok1("\"app_sockets\": \"shortcut\"");
	assert_int_equal(r.policy.flags, 0);
	ok1("\"app_sockets\": \"tcp\", \"include_inbound_ports\": \"80\"");
	assert_int_equal(r.policy.flags, MC_POD_APP_TCP | MC_POD_IN_PORTS_ONLY);
	bad1("\"app_sockets\": \"TCP\"", "app_sockets: \"TCP\" is neither \"tcp\" nor \"shortcut\"");
	bad1("\"app_sockets\": \"\"", "app_sockets: \"\" is neither");
	bad1("\"app_sockets\": true", "app_sockets: must be a string");
}

static void test_app_reads(void **state)
{
	(void)state;
	ok1("\"app_reads\": \"recv\"");
	assert_int_equal(r.policy.flags, MC_POD_APP_READS_RECV);
	ok1("\"app_reads\": \"any\"");
	assert_int_equal(r.policy.flags, 0);
	ok1("\"app_reads\": \"recv\", \"app_sockets\": \"tcp\"");
	assert_int_equal(r.policy.flags, MC_POD_APP_READS_RECV | MC_POD_APP_TCP);
	bad1("\"app_reads\": \"RECV\"", "app_reads: \"RECV\" is neither \"recv\" nor \"any\"");
	bad1("\"app_reads\": \"splice\"", "app_reads: \"splice\" is neither");
	bad1("\"app_reads\": \"\"", "app_reads: \"\" is neither");
	bad1("\"app_reads\": 1", "app_reads: must be a string");
}

static void test_unknown_fields(void **state)
{
	(void)state;
	bad1("\"extra\": 1", "unknown field \"extra\"");
	bad1("\"Namespace\": \"x\"", "unknown field \"Namespace\"");
	bad1("\"netnsCookie\": 1", "unknown field");
	bad1("\"\": 1", "unknown field");
	bad1("\"ips \": 1", "unknown field");
}

static void test_wrong_types(void **state)
{
	(void)state;
	bad("{\"namespace\": 1, \"name\": \"a\", \"ips\": [\"10.0.0.1\"]}", "namespace: must be a string");
	bad("{\"namespace\": \"n\", \"name\": null, \"ips\": [\"10.0.0.1\"]}", "name: must be a string");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": \"10.0.0.1\"}", "ips: must be an array");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [10]}", "ips[]: must be a string");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": {}}", "ips: must be an array");
	bad1("\"netns_cookie\": \"12\"", "netns_cookie: must be a non-negative integer");
	bad1("\"netns_cookie\": 1.0", "netns_cookie: must be a non-negative integer");
	bad1("\"netns_cookie\": -1", "netns_cookie: must be a non-negative integer");
	bad1("\"host_ifindex\": \"7\"", "host_ifindex: must be a positive interface index");
	bad1("\"host_ifindex\": true", "host_ifindex");
	bad1("\"mac\": 10", "mac: must be a string");
	bad1("\"outbound_port\": \"15001\"", "outbound_port: must be an integer port");
	bad1("\"inbound_port\": 15006.5", "inbound_port: must be an integer port");
	bad1("\"proxy_uid\": \"1337\"", "proxy_uid: must be a uid");
	bad1("\"exclude_inbound_ports\": [15090]", "exclude_inbound_ports: must be a string");
	bad1("\"exclude_outbound_cidrs\": null", "exclude_outbound_cidrs: must be a string");
	bad1("\"interception_mode\": 1", "interception_mode: must be a string");
	bad("[]", "must be a JSON object");
	bad("\"x\"", "malformed JSON"); /* jansson refuses a top-level string without JSON_DECODE_ANY */
	bad("null", "malformed JSON");
	bad("42", "malformed JSON");
}

static void test_ranges(void **state)
{
	(void)state;
	bad1("\"outbound_port\": 0", "outbound_port: 0 is out of range (1..65535)");
	bad1("\"outbound_port\": 65536", "outbound_port: 65536 is out of range");
	bad1("\"inbound_port\": -1", "inbound_port: -1 is out of range");
	bad1("\"inbound_port\": 9223372036854775807", "inbound_port");
	ok1("\"outbound_port\": 1");
	assert_int_equal(r.policy.outbound_port, 1);
	ok1("\"inbound_port\": 65535");
	assert_int_equal(r.policy.inbound_port, 65535);
	bad1("\"outbound_port\": 15006", "outbound_port and inbound_port must differ");
	bad1("\"proxy_uid\": -1", "proxy_uid: must be a uid");
	bad1("\"proxy_uid\": 4294967295", "proxy_uid: must be a uid");
	ok1("\"proxy_uid\": 0");
	ok1("\"proxy_uid\": 4294967294");
	assert_int_equal(r.policy.proxy_uid, 4294967294u);
	bad1("\"host_ifindex\": 0", "host_ifindex: must be a positive interface index");
	bad1("\"host_ifindex\": 2147483648", "host_ifindex");
	ok1("\"host_ifindex\": 2147483647");
	assert_int_equal(r.host_ifindex, 2147483647u);
	ok1("\"netns_cookie\": 0");
	ok1("\"netns_cookie\": 9223372036854775807");
	bad1("\"netns_cookie\": 18446744073709551615", "malformed JSON"); /* over int64 */
	bad1("\"exclude_inbound_ports\": \"0\"", "exclude_inbound_ports: bad port");
	bad1("\"exclude_inbound_ports\": \"65536\"", "exclude_inbound_ports: bad port");
	bad1("\"exclude_outbound_ports\": \"1-17\"", "exclude_outbound_ports: too many ports");
	bad1("\"exclude_inbound_ports\": \"*\"", "exclude_inbound_ports: \"*\" is not allowed");
	bad1("\"exclude_outbound_ports\": \"2-1\"", "exclude_outbound_ports: bad port range");
	bad1("\"interception_mode\": \"TPROXY\"", "interception_mode: \"TPROXY\" is not supported");
}

static void test_bad_cidrs(void **state)
{
	(void)state;
	bad1("\"exclude_outbound_cidrs\": \"10.0.0.0/33\"", "exclude_outbound_cidrs: bad prefix length");
	bad1("\"exclude_outbound_cidrs\": \"10.0.0/8\"", "exclude_outbound_cidrs: not an IP address");
	bad1("\"exclude_outbound_cidrs\": \"10.0.0.0/8,\"", "exclude_outbound_cidrs: list ends with a comma");
	bad1("\"exclude_outbound_cidrs\": \"*\"", "exclude_outbound_cidrs: \"*\" is not allowed");
	bad1("\"include_outbound_cidrs\": \"fd00::/129\"", "include_outbound_cidrs: bad prefix length");
	bad1("\"exclude_outbound_cidrs\": \"1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8,"
	     "6.0.0.0/8,7.0.0.0/8,8.0.0.0/8,9.0.0.0/8\"",
	     "exclude_outbound_cidrs: too many CIDRs");
	bad1("\"mac\": \"0a:58:0a:f4:01\"", "mac: not a MAC address");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"10.0.0.256\"]}", "ips[0]: not an IP address");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"fd00::1\", \"10.0.0.1/32\"]}",
	    "ips[1]: not an IP address");
}

static void test_duplicates(void **state)
{
	(void)state;
	bad("{" BASE ", \"namespace\": \"other\"}", "duplicate");
	bad("{" BASE ", \"ips\": [\"10.244.1.12\"]}", "duplicate");
	bad1("\"mac\": \"0a:58:0a:f4:01:0b\", \"mac\": \"0a:58:0a:f4:01:0b\"", "duplicate");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"10.0.0.1\", \"10.0.0.2\"]}",
	    "ips: more than one IPv4 address");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"10.0.0.1\", \"10.0.0.1\"]}",
	    "ips: more than one IPv4 address");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"fd00::1\", \"fd00::2\"]}",
	    "ips: more than one IPv6 address");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"10.0.0.1\", \"fd00::1\", \"fd00::2\"]}",
	    "ips: must be an array of 1 or 2 addresses");
	bad("{\"namespace\": \"n\", \"name\": \"a\", \"ips\": []}",
	    "ips: must be an array of 1 or 2 addresses");
}

static void test_missing(void **state)
{
	(void)state;
	bad("{}", "missing field \"namespace\"");
	bad("{\"name\": \"a\", \"ips\": [\"10.0.0.1\"]}", "missing field \"namespace\"");
	bad("{\"namespace\": \"n\", \"ips\": [\"10.0.0.1\"]}", "missing field \"name\"");
	bad("{\"namespace\": \"n\", \"name\": \"a\"}", "missing field \"ips\"");
}

static void test_names(void **state)
{
	char body[1024], name[300];

	(void)state;
	bad("{\"namespace\": \"Default\", \"name\": \"a\", \"ips\": [\"10.0.0.1\"]}",
	    "namespace: \"Default\" is not a Kubernetes namespace name");
	bad("{\"namespace\": \"n\", \"name\": \"a_b\", \"ips\": [\"10.0.0.1\"]}", "name: \"a_b\" is not");
	bad("{\"namespace\": \"n\", \"name\": \"-a\", \"ips\": [\"10.0.0.1\"]}", "name: \"-a\" is not");
	bad("{\"namespace\": \"n\", \"name\": \"a.\", \"ips\": [\"10.0.0.1\"]}", "name: \"a.\" is not");
	bad("{\"namespace\": \"n\", \"name\": \"\", \"ips\": [\"10.0.0.1\"]}", "name");
	bad("{\"namespace\": \"n\", \"name\": \"a/b\", \"ips\": [\"10.0.0.1\"]}", "name");
	/* jansson refuses \u0000 itself (the parser would say "contains a NUL byte") */
	bad("{\"namespace\": \"n\", \"name\": \"a\\u0000b\", \"ips\": [\"10.0.0.1\"]}", "\\u0000");
	/* lengths: namespace up to 63, name up to 253 */
	memset(name, 'a', 63);
	name[63] = '\0';
	snprintf(body, sizeof(body), "{\"namespace\": \"%s\", \"name\": \"a\", \"ips\": [\"10.0.0.1\"]}", name);
	ok(body);
	assert_int_equal(strlen(r.namespace), 63);
	name[63] = 'a';
	name[64] = '\0';
	snprintf(body, sizeof(body), "{\"namespace\": \"%s\", \"name\": \"a\", \"ips\": [\"10.0.0.1\"]}", name);
	bad(body, "namespace");
	memset(name, 'b', 253);
	name[253] = '\0';
	snprintf(body, sizeof(body), "{\"namespace\": \"n\", \"name\": \"%s\", \"ips\": [\"10.0.0.1\"]}", name);
	ok(body);
	assert_int_equal(strlen(r.name), 253);
	name[253] = 'b';
	name[254] = '\0';
	snprintf(body, sizeof(body), "{\"namespace\": \"n\", \"name\": \"%s\", \"ips\": [\"10.0.0.1\"]}", name);
	bad(body, "name");
}

static void test_malformed(void **state)
{
	(void)state;
	bad("", "malformed JSON");
	bad("{", "malformed JSON");
	bad("{\"namespace\": \"default\", \"na", "malformed JSON");
	bad("{" BASE "} {}", "malformed JSON");
	bad("{" BASE ",}", "malformed JSON");
	bad("{'namespace': 'x'}", "malformed JSON");
	bad("{\"namespace\": \"\\ud800\", \"name\": \"a\", \"ips\": [\"10.0.0.1\"]}", "malformed JSON");
	bad("\xff\xfe{}", "malformed JSON");
	/* a NUL byte inside the body: the length counts, not the C string */
	{
		static const char nul[] = "{\"namespace\": \"n\"\0, \"name\": \"a\"}";

		assert_int_equal(mc_registration_parse(nul, sizeof(nul) - 1, &r, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "malformed JSON"));
	}
}

static void test_size_limit(void **state)
{
	size_t n = MC_REG_MAX_BODY + 1, pad;
	char *body = malloc(n + 1);

	(void)state;
	assert_non_null(body);
	/* exactly 16 KiB of valid JSON (padded with blanks) is read */
	strcpy(body, "{" BASE "}");
	pad = strlen(body);
	memset(body + pad, ' ', MC_REG_MAX_BODY - pad);
	body[MC_REG_MAX_BODY] = '\0';
	assert_int_equal(strlen(body), MC_REG_MAX_BODY);
	ok(body);
	/* one byte more is refused before parsing */
	body[MC_REG_MAX_BODY] = ' ';
	body[MC_REG_MAX_BODY + 1] = '\0';
	bad(body, "request body over 16384 bytes");
	free(body);
}

/* Known gap (agent/api/registration.c): "::" parses to the all-zero address, which
 * the parser's own struct uses for "absent", so {"ips": ["::"]} is accepted
 * with no IP at all (the fuzzer found it). agent/verify.c refuses it ("ips: no
 * pod IP claimed"). Skipped while the gap is there; a fix turns it on. */
static void test_known_gap_unspecified_ip(void **state)
{
	(void)state;
	static const char body[] = "{\"namespace\": \"n\", \"name\": \"a\", \"ips\": [\"::\"]}";

	memset(err, 0, sizeof(err));
	if (mc_registration_parse(body, sizeof(body) - 1, &r, err, sizeof(err)) == 0) {
		print_message("known gap (agent/api/registration.c): \"ips\": [\"::\"] is accepted as no IP\n");
		skip();
	}
	assert_non_null(strstr(err, "ips"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_include_lists),
		cmocka_unit_test(test_include_with_exclude),
		cmocka_unit_test(test_app_sockets),
		cmocka_unit_test(test_app_reads),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_bad_cidrs),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_known_gap_unspecified_ip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
