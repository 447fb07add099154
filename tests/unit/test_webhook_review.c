/* Unit tests of injector/webhook's review, pod, patch and base64: the answer
 * the API server gets for an AdmissionReview, without HTTP. The golden tests
 * (tests/integration/webhook.t) apply whole patches; these pin the rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../injector/webhook/base64.h"
#include "../../injector/webhook/review.h"

static const struct inject_cfg cfg = {
	.image = "example/meshcut:1",
	.socket_dir = "/var/run/meshcut",
	.cpu_request = "10m",
	.memory_request = "16Mi",
	.cpu_limit = "",
	.memory_limit = "32Mi",
	.run_as_user = 65532,
	.run_as_group = 65532,
};

static json_t *parse(const char *json)
{
	json_error_t err;
	json_t *j = json_loads(json, 0, &err);

	if (!j)
		fail_msg("bad test JSON: %s", err.text);
	return j;
}

static void test_base64(void **state)
{
	static const char *const vec[][2] = { { "", "" },        { "f", "Zg==" },
					      { "fo", "Zm8=" },  { "foo", "Zm9v" },
					      { "foob", "Zm9vYg==" }, { "foobar", "Zm9vYmFy" } };
	(void)state;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char *s = base64_encode(vec[i][0], strlen(vec[i][0]));

		assert_string_equal(s, vec[i][1]);
		free(s);
	}
}

static struct pod_decision decide(const char *json)
{
	json_t *p = parse(json);
	struct pod_decision d = pod_decide(p);

	json_decref(p);
	return d;
}

static void test_decide(void **state)
{
	struct pod_decision d;
	(void)state;

	d = decide("{\"spec\":{\"containers\":[{\"name\":\"app\"}]}}");
	assert_false(d.inject);
	d = decide("{\"spec\":{\"containers\":[{\"name\":\"app\"},{\"name\":\"istio-proxy\"}]}}");
	assert_true(d.inject);
	assert_int_equal(d.sidecar, POD_SIDECAR_CLASSIC);
	d = decide("{\"metadata\":{\"annotations\":{\"sidecar.istio.io/status\":\"{}\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"app\"}]}}");
	assert_true(d.inject);
	assert_int_equal(d.sidecar, POD_SIDECAR_CLASSIC);
	d = decide("{\"spec\":{\"initContainers\":[{\"name\":\"istio-init\"},"
		   "{\"name\":\"istio-proxy\",\"restartPolicy\":\"Always\"},{\"name\":\"x\"}],"
		   "\"containers\":[{\"name\":\"app\"}]}}");
	assert_true(d.inject);
	assert_int_equal(d.sidecar, POD_SIDECAR_NATIVE);
	assert_int_equal(d.proxy_index, 1);
	/* an istio-proxy init container that is not a sidecar is not one */
	d = decide("{\"spec\":{\"initContainers\":[{\"name\":\"istio-proxy\"}],"
		   "\"containers\":[{\"name\":\"app\"}]}}");
	assert_false(d.inject);
	d = decide("{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_false(d.inject);
	d = decide("{\"spec\":{\"initContainers\":[{\"name\":\"meshcut-init\"}],"
		   "\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_false(d.inject);
	assert_string_equal(d.reason, "already injected");
	d = decide("[]");
	assert_false(d.inject);
	d = decide("{\"spec\":7}");
	assert_false(d.inject);
}

static void test_opt_out(void **state)
{
	static const char *const forms[] = {
		"{\"annotations\":{\"meshcut.io/inject\":\"false\"}}",
		"{\"labels\":{\"meshcut.io/inject\":\"False\"}}",
		"{\"annotations\":{\"sidecar.istio.io/inject\":\"false\"}}",
		"{\"labels\":{\"sidecar.istio.io/inject\":\"false\"}}",
	};
	char json[512];
	(void)state;

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"metadata\":%s,\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}",
			 forms[i]);
		assert_false(decide(json).inject);
	}
	/* "true" is not an opt-out */
	assert_true(decide("{\"metadata\":{\"labels\":{\"meshcut.io/inject\":\"true\"}},"
			   "\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}").inject);
}

/* Istio ambient: a pod ztunnel captures is never injected, whatever sidecar
 * it seems to have; only "enabled" says so ("disabled" is a user's opt-out
 * of ambient, and such a pod may well be a sidecar pod). */
static void test_ambient(void **state)
{
	struct pod_decision d;
	(void)state;

	d = decide("{\"metadata\":{\"annotations\":{\"ambient.istio.io/redirection\":\"enabled\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_false(d.inject);
	assert_string_equal(d.reason, "captured by Istio ambient (ambient.istio.io/redirection: enabled)");
	d = decide("{\"metadata\":{\"annotations\":{\"ambient.istio.io/redirection\":\"enabled\"}},"
		   "\"spec\":{\"initContainers\":[{\"name\":\"istio-proxy\",\"restartPolicy\":\"Always\"}],"
		   "\"containers\":[{\"name\":\"app\"}]}}");
	assert_false(d.inject);
	d = decide("{\"metadata\":{\"annotations\":{\"ambient.istio.io/redirection\":\"disabled\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_true(d.inject);
	/* a label of that name is not Istio's mark */
	d = decide("{\"metadata\":{\"labels\":{\"ambient.istio.io/redirection\":\"enabled\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_true(d.inject);
}

static json_t *build(const char *pod_json)
{
	json_t *p = parse(pod_json), *patch;
	struct pod_decision d = pod_decide(p);

	assert_true(d.inject);
	patch = patch_build(p, &d, &cfg);
	assert_non_null(patch);
	json_decref(p);
	return patch;
}

static const char *op_path(const json_t *patch, size_t i)
{
	return json_string_value(json_object_get(json_array_get(patch, i), "path"));
}

/* Lists and maps are created when missing (or null), appended to otherwise. */
static void test_patch_paths(void **state)
{
	json_t *p;
	(void)state;

	p = build("{\"metadata\":{\"name\":\"a\"},\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_int_equal(json_array_size(p), 3);
	assert_string_equal(op_path(p, 0), "/spec/initContainers");
	assert_string_equal(op_path(p, 1), "/spec/volumes");
	assert_string_equal(op_path(p, 2), "/metadata/annotations");
	json_decref(p);

	p = build("{\"metadata\":{\"annotations\":{\"a\":\"b\"}},\"spec\":{\"initContainers\":"
		  "[{\"name\":\"istio-init\"}],\"volumes\":[],\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_string_equal(op_path(p, 0), "/spec/initContainers/-");
	assert_string_equal(op_path(p, 1), "/spec/volumes/-");
	assert_string_equal(op_path(p, 2), "/metadata/annotations/meshcut.io~1status");
	json_decref(p);

	p = build("{\"metadata\":{\"annotations\":null},\"spec\":{\"initContainers\":null,"
		  "\"volumes\":null,\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_string_equal(op_path(p, 0), "/spec/initContainers");
	assert_string_equal(op_path(p, 1), "/spec/volumes");
	assert_string_equal(op_path(p, 2), "/metadata/annotations");
	json_decref(p);

	/* no metadata at all */
	p = build("{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	assert_string_equal(op_path(p, 2), "/metadata");
	json_decref(p);

	/* native sidecar: right after istio-proxy; a volume of ours is reused */
	p = build("{\"metadata\":{},\"spec\":{\"initContainers\":[{\"name\":\"istio-init\"},"
		  "{\"name\":\"istio-proxy\",\"restartPolicy\":\"Always\"},{\"name\":\"user\"}],"
		  "\"volumes\":[{\"name\":\"meshcut-socket\"}],\"containers\":[{\"name\":\"app\"}]}}");
	assert_int_equal(json_array_size(p), 2);
	assert_string_equal(op_path(p, 0), "/spec/initContainers/2");
	assert_string_equal(op_path(p, 1), "/metadata/annotations");
	json_decref(p);
}

/* The container itself: flags of the operator, nothing else. */
static void test_patch_container(void **state)
{
	json_t *p = build("{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}");
	json_t *c = json_array_get(json_object_get(json_array_get(p, 0), "value"), 0);
	json_t *res = json_object_get(c, "resources"), *sc = json_object_get(c, "securityContext");
	(void)state;

	assert_string_equal(json_string_value(json_object_get(c, "name")), "meshcut-init");
	assert_string_equal(json_string_value(json_object_get(c, "image")), "example/meshcut:1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "requests"), "cpu")), "10m");
	assert_null(json_object_get(json_object_get(res, "limits"), "cpu")); /* "" = none */
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "limits"), "memory")), "32Mi");
	assert_true(json_is_true(json_object_get(sc, "runAsNonRoot")));
	assert_int_equal(json_integer_value(json_object_get(sc, "runAsUser")), 65532);
	assert_true(json_is_false(json_object_get(sc, "allowPrivilegeEscalation")));
	assert_true(json_is_true(json_object_get(sc, "readOnlyRootFilesystem")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(sc,
		"capabilities"), "drop"), 0)), "ALL");
	assert_int_equal(json_array_size(json_object_get(c, "env")), 5 + 10 + 2); /* + MESHCUT_APP_SOCKETS, MESHCUT_APP_READS */
	/* the ambient mark as the kubelet sees it when meshcut-init starts */
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(c, "env"), 4), "name")),
			    "POD_AMBIENT_REDIRECTION");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(
		json_array_get(json_object_get(c, "env"), 4), "valueFrom"), "fieldRef"), "fieldPath")),
			    "metadata.annotations['ambient.istio.io/redirection']");
	json_decref(p);
}

/* chart logFormat json: the webhook's --log-json reaches every meshcut-init it
 * injects, as the last variable; a text-logging cluster's pods are unchanged */
static void test_patch_log_format(void **state)
{
	struct inject_cfg json_cfg = cfg;
	json_t *p = parse("{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}"), *patch, *env;
	struct pod_decision d = pod_decide(p);
	(void)state;

	json_cfg.log_json = true;
	patch = patch_build(p, &d, &json_cfg);
	env = json_object_get(json_array_get(json_object_get(json_array_get(patch, 0), "value"), 0), "env");
	assert_int_equal(json_array_size(env), 5 + 10 + 2 + 1); /* + MESHCUT_LOG_FORMAT */
	assert_string_equal(json_string_value(json_object_get(json_array_get(env, json_array_size(env) - 1),
							      "name")), "MESHCUT_LOG_FORMAT");
	assert_string_equal(json_string_value(json_object_get(json_array_get(env, json_array_size(env) - 1),
							      "value")), "json");
	json_decref(patch);
	patch = patch_build(p, &d, &cfg);
	env = json_object_get(json_array_get(json_object_get(json_array_get(patch, 0), "value"), 0), "env");
	for (size_t i = 0; i < json_array_size(env); i++)
		assert_string_not_equal(json_string_value(json_object_get(json_array_get(env, i), "name")),
					"MESHCUT_LOG_FORMAT");
	json_decref(patch);
	json_decref(p);
}

static json_t *answer(const char *body, unsigned int want_status)
{
	struct review_reply r;
	json_t *j;

	assert_int_equal(review_handle(body, strlen(body), &cfg, &r), 0);
	assert_int_equal(r.http_status, want_status);
	j = parse(r.body);
	free(r.body);
	return j;
}

#define REVIEW(api, req) "{\"apiVersion\":\"" api "\",\"kind\":\"AdmissionReview\",\"request\":" req "}"
#define POD_REQ(uid, pod) "{\"uid\":\"" uid "\",\"kind\":{\"group\":\"\",\"version\":\"v1\"," \
	"\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":\"ns\",\"object\":" pod "}"
#define PROXY_POD "{\"spec\":{\"containers\":[{\"name\":\"istio-proxy\"}]}}"

static void test_review_mutates(void **state)
{
	json_t *j = answer(REVIEW("admission.k8s.io/v1", POD_REQ("u-1", PROXY_POD)), 200);
	json_t *resp = json_object_get(j, "response");
	(void)state;

	assert_string_equal(json_string_value(json_object_get(j, "apiVersion")), "admission.k8s.io/v1");
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "AdmissionReview");
	assert_string_equal(json_string_value(json_object_get(resp, "uid")), "u-1");
	assert_true(json_is_true(json_object_get(resp, "allowed")));
	assert_string_equal(json_string_value(json_object_get(resp, "patchType")), "JSONPatch");
	assert_non_null(json_string_value(json_object_get(resp, "patch")));
	json_decref(j);
}

static void test_review_allows_unchanged(void **state)
{
	static const char *const bodies[] = {
		REVIEW("admission.k8s.io/v1", POD_REQ("u", "{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}")),
		REVIEW("admission.k8s.io/v1", POD_REQ("u", "null")),
		REVIEW("admission.k8s.io/v1", "{\"uid\":\"u\",\"kind\":{\"group\":\"apps\",\"version\":"
		       "\"v1\",\"kind\":\"Deployment\"},\"operation\":\"CREATE\",\"object\":" PROXY_POD "}"),
		REVIEW("admission.k8s.io/v1", "{\"uid\":\"u\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
		       "\"kind\":\"Pod\"},\"operation\":\"UPDATE\",\"object\":" PROXY_POD "}"),
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_t *j = answer(bodies[i], 200), *resp = json_object_get(j, "response");

		assert_string_equal(json_string_value(json_object_get(resp, "uid")), "u");
		assert_true(json_is_true(json_object_get(resp, "allowed")));
		assert_null(json_object_get(resp, "patch"));
		assert_null(json_object_get(resp, "patchType"));
		json_decref(j);
	}
}

static void test_review_bad_requests(void **state)
{
	json_t *j;
	(void)state;

	j = answer("{not json", 400);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "Status");
	assert_int_equal(json_integer_value(json_object_get(j, "code")), 400);
	json_decref(j);

	j = answer(REVIEW("admission.k8s.io/v1", "{\"kind\":{}}"), 400); /* no uid */
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "Status");
	json_decref(j);

	j = answer("[1,2]", 400);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "Status");
	json_decref(j);

	/* the uid is readable: still an AdmissionReview that allows the pod */
	j = answer(REVIEW("admission.k8s.io/v1beta1", POD_REQ("u-2", PROXY_POD)), 400);
	assert_string_equal(json_string_value(json_object_get(j, "kind")), "AdmissionReview");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "response"), "uid")), "u-2");
	assert_true(json_is_true(json_object_get(json_object_get(j, "response"), "allowed")));
	assert_null(json_object_get(json_object_get(j, "response"), "patch"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(j,
		"response"), "status"), "code")), 400);
	json_decref(j);

	/* an embedded NUL or duplicate keys: refused, not misread */
	j = answer("{\"a\":1,\"a\":2}", 400);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_opt_out),
		cmocka_unit_test(test_ambient),
		cmocka_unit_test(test_patch_paths),
		cmocka_unit_test(test_patch_container),
		cmocka_unit_test(test_patch_log_format),
		cmocka_unit_test(test_review_mutates),
		cmocka_unit_test(test_review_allows_unchanged),
		cmocka_unit_test(test_review_bad_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
