#!/usr/bin/env python3
"""Golden checks of meshcut-webhook answers (used by tests/integration/webhook.t).

cases/NAME.in.json is the request body as the API server would send it;
cases/NAME.out.json what must come back:
  {"http": 200, "patch": [...], "pod": {...}}  mutated: the exact JSON Patch, and
                                               request.object after applying it
  {"http": 200, "patch": null}                 allowed unchanged
  {"http": 400}                                refused (an AdmissionReview that
                                               still allows, when a uid is readable)
The patch is applied with python3-jsonpatch, a real RFC 6902 implementation:
a path whose parent does not exist, or "/-" on a missing array, fails there.

  golden.py check IN OUT STATUS BODY    exit 0 if the answer matches, else print why
  golden.py write IN STATUS BODY        print the OUT file for this answer
  golden.py again OUT                   print a review of OUT's pod (reinvocation)
"""
import base64
import copy
import json
import sys

import jsonpatch


def load(path):
    with open(path) as f:
        return json.load(f)


def request_of(path):
    """The parsed request body, or None when it is not JSON (malformed case)."""
    try:
        return load(path)
    except ValueError:
        return None


def readable_uid(req):
    try:
        uid = req["request"]["uid"]
        return uid if isinstance(uid, str) and uid else None
    except (KeyError, TypeError):
        return None


def judge(req, status, body):
    """Checks the envelope, returns what the OUT file records."""
    uid = readable_uid(req)
    if status == 400:
        if uid:  # still an AdmissionReview that allows the pod
            assert body["kind"] == "AdmissionReview", "400 with uid: not an AdmissionReview"
            assert body["response"]["uid"] == uid, "400: uid not echoed"
            assert body["response"]["allowed"] is True, "400: not allowed"
            assert "patch" not in body["response"], "400 with a patch"
            assert body["response"]["status"]["message"], "400: no status message"
        else:
            assert body["kind"] == "Status" and body["message"], "400: no JSON message"
        return {"http": 400}
    assert status == 200, f"HTTP {status}"
    assert body["apiVersion"] == req["apiVersion"], "apiVersion differs from the request's"
    assert body["kind"] == req["kind"], "kind differs from the request's"
    resp = body["response"]
    assert resp["uid"] == uid, "uid not echoed"
    assert resp["allowed"] is True, "not allowed"
    if "patch" not in resp:
        assert "patchType" not in resp, "patchType without patch"
        return {"http": 200, "patch": None}
    assert resp["patchType"] == "JSONPatch", "patchType is not JSONPatch"
    patch = json.loads(base64.b64decode(resp["patch"], validate=True))
    assert isinstance(patch, list) and patch, "patch is not a non-empty array"
    pod = jsonpatch.apply_patch(copy.deepcopy(req["request"]["object"]), patch)
    return {"http": 200, "patch": patch, "pod": pod}


def main(argv):
    cmd = argv[1]
    if cmd == "again":
        out = load(argv[2])
        print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                          "request": {"uid": "again", "operation": "CREATE",
                                      "kind": {"group": "", "version": "v1", "kind": "Pod"},
                                      "namespace": "shop", "object": out["pod"]}}))
        return 0
    req = request_of(argv[2])
    status_arg, body_arg = (argv[4], argv[5]) if cmd == "check" else (argv[3], argv[4])
    try:
        got = judge(req, int(status_arg), load(body_arg))
    except (AssertionError, ValueError, KeyError, TypeError,
            jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
        print(f"bad answer: {type(e).__name__}: {e}")
        return 1
    if cmd == "write":
        print(json.dumps(got, indent=2, sort_keys=True))
        return 0
    want = load(argv[3])
    if got == want:
        return 0
    for key in ("http", "patch", "pod"):
        if got.get(key) != want.get(key):
            print(f"{key} differs from {argv[3]}; got:")
            print(json.dumps(got.get(key), indent=2, sort_keys=True))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
