/* review: see review.h. Replies: the same apiVersion and kind as the request,
 * response.uid = request.uid, allowed, and for a mutation patchType JSONPatch
 * with the patch in base64. A request we cannot read gets HTTP 400 and a JSON
 * message: a v1 Status, or, when its uid is readable, an AdmissionReview that
 * still allows the pod (the API server treats the 400 as a webhook failure,
 * and failurePolicy Ignore admits the pod unchanged either way). */
#include "review.h"

#include "base64.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REVIEW_API "admission.k8s.io/v1"
#define REVIEW_KIND "AdmissionReview"

static int reply_json(struct review_reply *reply, unsigned int status, json_t *body)
{
	reply->http_status = status;
	reply->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return reply->body ? 0 : -1;
}

static json_t *review(json_t *response)
{
	return json_pack("{s:s, s:s, s:o}", "apiVersion", REVIEW_API, "kind", REVIEW_KIND,
			 "response", response);
}

static int bad_request(struct review_reply *reply, const char *uid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad_request(struct review_reply *reply, const char *uid, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_warn("bad AdmissionReview%s%s: %s", uid ? " uid=" : "", uid ? uid : "", msg);
	if (!uid)
		return reply_json(reply, 400,
				  json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "apiVersion", "v1",
					    "kind", "Status", "status", "Failure", "reason",
					    "BadRequest", "message", msg, "code", 400));
	return reply_json(reply, 400,
			  review(json_pack("{s:s, s:b, s:{s:i, s:s}}", "uid", uid, "allowed", 1,
					   "status", "code", 400, "message", msg)));
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool is(const char *s, const char *want)
{
	return s && strcmp(s, want) == 0;
}

/* "ns/name" for logs; a pod created from a template has only generateName. */
static void pod_ref(const json_t *req, const json_t *pod, char *buf, size_t size)
{
	const json_t *meta = json_object_get(pod, "metadata");
	const char *ns = str(req, "namespace"), *name = str(meta, "name");

	if (name && *name)
		snprintf(buf, size, "%s/%s", ns ? ns : "", name);
	else
		snprintf(buf, size, "%s/%s*", ns ? ns : "", str(meta, "generateName") ?: "");
}

/* The response to a well-formed request: allowed, maybe with a patch. */
static json_t *respond(const char *uid, const json_t *req, const struct inject_cfg *cfg,
		       struct review_reply *reply)
{
	const json_t *pod = json_object_get(req, "object"), *kind = json_object_get(req, "kind");
	json_t *resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", 1), *patch;
	struct pod_decision d;
	char ref[300], *text, *b64;

	if (!resp)
		return NULL;
	pod_ref(req, pod, ref, sizeof(ref));
	if (!is(str(kind, "kind"), "Pod") || !is(str(kind, "group"), "") ||
	    !is(str(req, "operation"), "CREATE") || (str(req, "subResource") && *str(req, "subResource"))) {
		pr_debug("uid=%s %s: not a pod creation, allowed", uid, ref);
		reply->reason = "not a pod creation";
		return resp;
	}
	d = pod_decide(pod);
	reply->reason = d.reason;
	if (!d.inject) {
		pr_debug("uid=%s %s: %s, allowed unchanged", uid, ref, d.reason);
		return resp;
	}
	patch = patch_build(pod, &d, cfg);
	text = patch ? json_dumps(patch, JSON_COMPACT) : NULL;
	b64 = text ? base64_encode(text, strlen(text)) : NULL;
	json_decref(patch);
	free(text);
	if (!b64 || json_object_set_new(resp, "patchType", json_string("JSONPatch")) < 0 ||
	    json_object_set_new(resp, "patch", json_string(b64)) < 0) {
		free(b64);
		json_decref(resp);
		return NULL;
	}
	free(b64);
	pr_info("uid=%s %s: injected %s (%s)", uid, ref, POD_INIT_NAME, d.reason);
	reply->outcome = "injected";
	return resp;
}

int review_handle(const char *body, size_t len, const struct inject_cfg *cfg,
		  struct review_reply *reply)
{
	json_error_t err;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err), *req, *resp;
	const char *uid;
	int ret;

	reply->body = NULL;
	reply->outcome = "error";
	reply->reason = "bad request";
	if (!root)
		return bad_request(reply, NULL, "malformed JSON: %s (line %d, column %d)", err.text,
				   err.line, err.column);
	req = json_object_get(root, "request");
	uid = str(req, "uid");
	if (!uid || !*uid)
		ret = bad_request(reply, NULL, "not an AdmissionReview request: request.uid missing");
	else if (!is(str(root, "apiVersion"), REVIEW_API) || !is(str(root, "kind"), REVIEW_KIND))
		ret = bad_request(reply, uid, "expected apiVersion %s, kind %s (got %s, %s)",
				  REVIEW_API, REVIEW_KIND, str(root, "apiVersion") ?: "none",
				  str(root, "kind") ?: "none");
	else {
		reply->outcome = "skipped";
		resp = respond(uid, req, cfg, reply);
		if (!resp)
			reply->outcome = "error", reply->reason = "internal";
		ret = resp ? reply_json(reply, 200, review(resp)) : -1;
	}
	json_decref(root);
	return ret;
}
