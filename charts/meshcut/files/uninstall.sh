#!/bin/sh
# meshcut pre-delete hook (templates/uninstall-hook.yaml runs it in a Job).
#
# SIGTERM leaves each node's BPF datapath in place, so deleting the DaemonSet
# would leave it behind on every node. Instead this switches the DaemonSet to
# uninstall mode (MESHCUT_UNINSTALL=1): every agent pod is replaced by one
# that runs `meshcut-agent --uninstall` (drain, then remove every program, map
# and pin) and only then reports ready, through a marker file its readiness
# probe now looks for (the agent's HTTP endpoint is gone by then, so the
# liveness probe goes too). When the rollout is complete, every node has
# reported; Helm then deletes the objects. A node that does not report within
# TIMEOUT_SECONDS fails the hook, and with it the uninstall: see the chart's
# README.
#
# Talks to the API server with curl and the Job's ServiceAccount token; jq
# reads the answers. Environment: DAEMONSET (name), TIMEOUT_SECONDS,
# POLL_SECONDS, and for tests KUBE_API and SA_DIR.
set -eu

SA_DIR=${SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
KUBE_API=${KUBE_API:-https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}}
NAMESPACE=${NAMESPACE:-$(cat "$SA_DIR/namespace")}
DS_URL=$KUBE_API/apis/apps/v1/namespaces/$NAMESPACE/daemonsets/$DAEMONSET
TIMEOUT_SECONDS=${TIMEOUT_SECONDS:-240}
POLL_SECONDS=${POLL_SECONDS:-5}
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# api METHOD [curl args]: the HTTP status on stdout (000 when there was no
# answer), the body in $BODY
api() {
	method=$1
	shift
	curl -sS --max-time 10 -X "$method" --cacert "$SA_DIR/ca.crt" \
		-H "Authorization: Bearer $(cat "$SA_DIR/token")" -H 'Accept: application/json' \
		-o "$BODY" -w '%{http_code}' "$@" "$DS_URL" || :
}

code=$(api GET)
case $code in
200) ;;
404)
	echo "meshcut: no DaemonSet $NAMESPACE/$DAEMONSET, nothing to remove"
	exit 0
	;;
*)
	echo "meshcut: GET DaemonSet $NAMESPACE/$DAEMONSET: HTTP $code" >&2
	cat "$BODY" >&2
	exit 1
	;;
esac

# Every node at once (maxUnavailable 100%): the datapath is going away
# everywhere, and one node at a time would take nodes x drain time.
# In the strategic merge patch, null deletes a field.
patch='{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"100%"}},
"template":{"spec":{"containers":[{"name":"agent","env":[{"name":"MESHCUT_UNINSTALL","value":"1"}],
"livenessProbe":null,"readinessProbe":{"httpGet":null,"exec":{"command":["test","-e","/tmp/meshcut-removed"]}}}]}}}}'
code=$(api PATCH -H 'Content-Type: application/strategic-merge-patch+json' --data-binary "$patch")
if [ "$code" != 200 ]; then
	echo "meshcut: PATCH DaemonSet $NAMESPACE/$DAEMONSET: HTTP $code" >&2
	cat "$BODY" >&2
	exit 1
fi
echo "meshcut: agents switched to uninstall mode, waiting for every node (at most ${TIMEOUT_SECONDS}s)"

# Done when the rollout is (as kubectl rollout status sees it): every node
# runs an uninstall-mode pod, and every one of them is ready, i.e. removed.
deadline=$(($(date +%s) + TIMEOUT_SECONDS))
while :; do
	code=$(api GET)
	if [ "$code" = 200 ]; then
		progress=$(jq -r '.status | "\(.updatedNumberScheduled // 0) of \(.desiredNumberScheduled // 0) nodes switched, \(.numberAvailable // 0) done"' "$BODY")
		if jq -e '.status as $s | ($s.observedGeneration // 0) >= .metadata.generation
			and ($s.updatedNumberScheduled // 0) >= ($s.desiredNumberScheduled // 0)
			and ($s.numberAvailable // 0) >= ($s.desiredNumberScheduled // 0)' "$BODY" >/dev/null; then
			echo "meshcut: every node drained and removed ($progress)"
			exit 0
		fi
	else
		progress="GET DaemonSet: HTTP $code"
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		echo "meshcut: timed out after ${TIMEOUT_SECONDS}s: $progress" >&2
		echo "meshcut: nodes whose agent is not ready still hold meshcut's BPF state" >&2
		exit 1
	fi
	echo "meshcut: $progress"
	sleep "$POLL_SECONDS"
done
