/* Unit tests of injector/webhook/istio_args: reading istio-iptables' flags the
 * way pflag does, and the annotation precedence. A misread flag here means
 * meshcut shortcuts traffic the sidecar was told to leave alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../injector/webhook/istio_args.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void parse(const char *const *argv, size_t argc, const char *out[CAPTURE_NKEYS])
{
	memset(out, 0, sizeof(const char *) * CAPTURE_NKEYS);
	capture_parse_args(argv, argc, out);
}

/* Istio's own injection template: subcommand, then "-p" "15001" pairs. */
static void test_istio_template_args(void **state)
{
	const char *argv[] = { "istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337",
			       "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d",
			       "15090,15021,15020", "--log_output_level=default:info" };
	const char *out[CAPTURE_NKEYS];
	(void)state;

	parse(argv, N(argv), out);
	assert_string_equal(out[CAPTURE_OUTBOUND_PORT], "15001");
	assert_string_equal(out[CAPTURE_INBOUND_PORT], "15006");
	assert_string_equal(out[CAPTURE_PROXY_UID], "1337");
	assert_string_equal(out[CAPTURE_INTERCEPTION_MODE], "REDIRECT");
	assert_string_equal(out[CAPTURE_INCLUDE_OUTBOUND_CIDRS], "*");
	assert_string_equal(out[CAPTURE_EXCLUDE_OUTBOUND_CIDRS], "");
	assert_string_equal(out[CAPTURE_INCLUDE_INBOUND_PORTS], "*");
	assert_string_equal(out[CAPTURE_EXCLUDE_INBOUND_PORTS], "15090,15021,15020");
	assert_null(out[CAPTURE_EXCLUDE_OUTBOUND_PORTS]);
	assert_null(out[CAPTURE_INCLUDE_OUTBOUND_PORTS]);
}

/* Every spelling pflag accepts for a value flag. */
static void test_flag_forms(void **state)
{
	const char *argv[] = { "-p=1", "-z2", "--proxy-uid", "3", "--istio-inbound-ports=4",
			       "-o", "5", "--istio-service-cidr", "10.0.0.0/8",
			       "--istio-outbound-ports=6,7", "--istio-inbound-interception-mode",
			       "TPROXY" };
	const char *out[CAPTURE_NKEYS];
	(void)state;

	parse(argv, N(argv), out);
	assert_string_equal(out[CAPTURE_OUTBOUND_PORT], "1");
	assert_string_equal(out[CAPTURE_INBOUND_PORT], "2");
	assert_string_equal(out[CAPTURE_PROXY_UID], "3");
	assert_string_equal(out[CAPTURE_INCLUDE_INBOUND_PORTS], "4");
	assert_string_equal(out[CAPTURE_EXCLUDE_OUTBOUND_PORTS], "5");
	assert_string_equal(out[CAPTURE_INCLUDE_OUTBOUND_CIDRS], "10.0.0.0/8");
	assert_string_equal(out[CAPTURE_INCLUDE_OUTBOUND_PORTS], "6,7");
	assert_string_equal(out[CAPTURE_INTERCEPTION_MODE], "TPROXY");
}

/* Values of flags we do not use are skipped, not read as flags of ours; a
 * shorthand group reads booleans up to the first value flag; the last
 * occurrence wins; "--" ends the flags. */
static void test_skipping(void **state)
{
	const char *argv[] = { "-ceth0,docker0", "-k", "-d", "--run-validation", "-nfp", "9",
			       "--proxy-gid", "-x", "-p", "10", "--", "-p", "11" };
	const char *out[CAPTURE_NKEYS];
	(void)state;

	parse(argv, N(argv), out);
	assert_null(out[CAPTURE_EXCLUDE_INBOUND_PORTS]); /* "-d" was -k's value */
	assert_null(out[CAPTURE_EXCLUDE_OUTBOUND_CIDRS]); /* "-x" was --proxy-gid's value */
	assert_string_equal(out[CAPTURE_OUTBOUND_PORT], "10");
}

static void test_missing_value(void **state)
{
	const char *argv[] = { "-p" };
	const char *out[CAPTURE_NKEYS];
	(void)state;

	parse(argv, N(argv), out);
	assert_null(out[CAPTURE_OUTBOUND_PORT]);
}

static json_t *pod(const char *json)
{
	json_error_t err;
	json_t *p = json_loads(json, 0, &err);

	assert_non_null(p);
	return p;
}

/* No istio-init at all (Istio CNI without validation): Istio's defaults. */
static void test_defaults(void **state)
{
	json_t *p = pod("{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	struct capture c;
	(void)state;

	assert_int_equal(capture_from_pod(p, &c), 0);
	assert_string_equal(c.value[CAPTURE_OUTBOUND_PORT], "15001");
	assert_string_equal(c.value[CAPTURE_INBOUND_PORT], "15006");
	assert_string_equal(c.value[CAPTURE_PROXY_UID], "1337");
	assert_string_equal(c.value[CAPTURE_EXCLUDE_INBOUND_PORTS], "15090,15021,15020");
	assert_string_equal(c.value[CAPTURE_INCLUDE_INBOUND_PORTS], "*");
	assert_string_equal(c.value[CAPTURE_EXCLUDE_OUTBOUND_PORTS], "");
	assert_string_equal(c.value[CAPTURE_EXCLUDE_OUTBOUND_CIDRS], "");
	assert_string_equal(c.value[CAPTURE_INCLUDE_OUTBOUND_CIDRS], "*");
	assert_string_equal(c.value[CAPTURE_INCLUDE_OUTBOUND_PORTS], "");
	assert_string_equal(c.value[CAPTURE_INTERCEPTION_MODE], "REDIRECT");
	capture_free(&c);
	json_decref(p);
}

/* Annotations replace flags, except excluded inbound ports: a union. Present
 * but empty still replaces ("" means none). Lists come out normalised. */
static void test_annotations_win(void **state)
{
	json_t *p = pod(
		"{\"metadata\":{\"annotations\":{"
		"\"traffic.sidecar.istio.io/excludeInboundPorts\":\" 8081, 15021,,8082 \","
		"\"traffic.sidecar.istio.io/includeOutboundIPRanges\":\"10.0.0.0/8, 10.0.0.0/8\","
		"\"sidecar.istio.io/interceptionMode\":\"TPROXY\"}},"
		"\"spec\":{\"initContainers\":[{\"name\":\"istio-init\",\"args\":[\"istio-iptables\","
		"\"-d\",\"15090,15021,15020\",\"-i\",\"*\",\"-b\",\"*\",\"-m\",\"REDIRECT\","
		"\"-o\",\"25 , 26\"]}],"
		"\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	struct capture c;
	(void)state;

	assert_int_equal(capture_from_pod(p, &c), 0);
	assert_string_equal(c.value[CAPTURE_EXCLUDE_INBOUND_PORTS], "15090,15021,15020,8081,8082");
	assert_string_equal(c.value[CAPTURE_INCLUDE_OUTBOUND_CIDRS], "10.0.0.0/8");
	assert_string_equal(c.value[CAPTURE_INCLUDE_INBOUND_PORTS], "*");
	assert_string_equal(c.value[CAPTURE_INTERCEPTION_MODE], "TPROXY");
	assert_string_equal(c.value[CAPTURE_EXCLUDE_OUTBOUND_PORTS], "25,26");
	capture_free(&c);
	json_decref(p);
}

/* An inbound include list, as Istio renders traffic.sidecar.istio.io/
 * includeInboundPorts into -b: istio-iptables redirects only the listed ports
 * and never writes the exclude list's RETURN rules (run.go,
 * handleInboundPortsInclude), so nothing is excluded beyond the list. "" (no
 * inbound capture) likewise; "*" keeps the exclusions. */
static void test_include_list_drops_exclude(void **state)
{
	static const struct {
		const char *annotations, *b, *incl, *excl;
	} cases[] = {
		{ "\"traffic.sidecar.istio.io/includeInboundPorts\":\"8080,9090\"", "8080,9090",
		  "8080,9090", "" },
		{ "\"x\":\"y\"", "8080, 9090", "8080,9090", "" },
		{ "\"traffic.sidecar.istio.io/includeInboundPorts\":\" 8080 \"", "*", "8080", "" },
		{ "\"traffic.sidecar.istio.io/includeInboundPorts\":\"\"", "*", "", "" },
		{ "\"traffic.sidecar.istio.io/includeInboundPorts\":\"*\","
		  "\"traffic.sidecar.istio.io/excludeInboundPorts\":\"81\"", "8080", "*",
		  "15090,15021,15020,81" },
	};
	(void)state;

	for (size_t i = 0; i < N(cases); i++) {
		char json[1024];
		struct capture c;
		json_t *p;

		snprintf(json, sizeof(json),
			 "{\"metadata\":{\"annotations\":{%s}},\"spec\":{\"initContainers\":[{"
			 "\"name\":\"istio-init\",\"args\":[\"istio-iptables\",\"-b\",\"%s\","
			 "\"-d\",\"15090,15021,15020\"]}],\"containers\":[{\"name\":\"istio-proxy\"}]}}",
			 cases[i].annotations, cases[i].b);
		p = pod(json);
		assert_int_equal(capture_from_pod(p, &c), 0);
		assert_string_equal(c.value[CAPTURE_INCLUDE_INBOUND_PORTS], cases[i].incl);
		assert_string_equal(c.value[CAPTURE_EXCLUDE_INBOUND_PORTS], cases[i].excl);
		capture_free(&c);
		json_decref(p);
	}
}

/* Istio CNI: istio-validation carries the flags; istio-init wins if both. */
static void test_validation_container(void **state)
{
	json_t *v = pod("{\"spec\":{\"initContainers\":[{\"name\":\"istio-validation\","
			"\"args\":[\"istio-iptables\",\"-p\",\"15101\",\"--run-validation\","
			"\"--skip-rule-apply\"]}]}}");
	json_t *both = pod("{\"spec\":{\"initContainers\":["
			   "{\"name\":\"istio-validation\",\"args\":[\"-p\",\"1\"]},"
			   "{\"name\":\"istio-init\",\"command\":[\"istio-iptables\",\"-p\",\"2\"]}]}}");
	struct capture c;
	(void)state;

	assert_int_equal(capture_from_pod(v, &c), 0);
	assert_string_equal(c.value[CAPTURE_OUTBOUND_PORT], "15101");
	capture_free(&c);
	assert_int_equal(capture_from_pod(both, &c), 0);
	assert_string_equal(c.value[CAPTURE_OUTBOUND_PORT], "2");
	capture_free(&c);
	json_decref(v);
	json_decref(both);
}

/* Junk where strings belong is ignored, never dereferenced. */
static void test_junk(void **state)
{
	json_t *p = pod("{\"metadata\":{\"annotations\":{\"sidecar.istio.io/interceptionMode\":7}},"
			"\"spec\":{\"initContainers\":[{\"name\":\"istio-init\","
			"\"args\":[\"-p\",null,1,{},\"-z\"]}]}}");
	struct capture c;
	(void)state;

	assert_int_equal(capture_from_pod(p, &c), 0);
	assert_string_equal(c.value[CAPTURE_OUTBOUND_PORT], "15001");
	assert_string_equal(c.value[CAPTURE_INBOUND_PORT], "15006");
	assert_string_equal(c.value[CAPTURE_INTERCEPTION_MODE], "REDIRECT");
	capture_free(&c);
	json_decref(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_istio_template_args),
		cmocka_unit_test(test_flag_forms),
		cmocka_unit_test(test_skipping),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_annotations_win),
		cmocka_unit_test(test_include_list_drops_exclude),
		cmocka_unit_test(test_validation_container),
		cmocka_unit_test(test_junk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
