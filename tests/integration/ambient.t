#!/usr/bin/env bash
# Istio ambient mode. A pod that ztunnel captures carries the annotation
# ambient.istio.io/redirection: enabled (the istio-cni node agent sets it
# during CNI ADD, before init containers run); the webhook's patch hands it to
# meshcut-init through the downward API as POD_AMBIENT_REDIRECTION. Such a pod
# is never registered: meshcut-init exits 0 without calling the agent (even
# with MESHCUT_REQUIRED=1), the agent never hears of it, and its sockets are
# never paired: its traffic works and goes over TCP, no message of it is
# redirected. The same pod without the mark (the downward API gives "" for a
# missing annotation) registers and is shortcut, as a control that the checks
# can fail. The webhook's side is a golden case (webhook.t: ambient-captured).
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcamb
TEST_TMP=$(mktemp -d)

if ! "$VC" up --topology "$ROOT/tests/topologies/two-hop.json" --placement one-node --meshcut \
  >"$TEST_TMP/up.log" 2>&1; then
  not_ok "up"
  sed 's/^/# /' "$TEST_TMP/up.log"
  tap_done
  exit 1
fi
SOCK=$(node_sock node1)
LEAF_IP=$(pod_ip leaf)
URL="http://$(svc_addr leaf)/"
AGENT_LOG=/run/meshcut-vc/$VCLUSTER_NAME/logs/node1.agent.log

kinds() { # -> "outbound node_local inbound" redirected message counts on node1
  stats_json node1 | jq -r '"\(.redirected.outbound) \(.redirected.node_local) \(.redirected.inbound)"'
}
leaf_registered() { mc_admin node1 pods --json | jq -e '.[] | select(.pod == "default/leaf")' >/dev/null; }
# keep-alive requests from the client pod straight to leaf, through client's sidecar
load() { # SECONDS -> "requests errors"
  vcx client -- "$BUILD/tests/meshload" --url "$URL" -c 1 -d "$1" --warmup 0.2 --json |
    jq -r '"\(.requests + .warmup_requests) \(.errors)"'
}
# leaf's init container as the webhook's patch runs it: the pod's identity and
# its ambient mark from the downward API, required (so that a refusal or an
# absent agent would show as a non-zero exit)
init_leaf() { # POD_AMBIENT_REDIRECTION -> exit code, its log in $TEST_TMP/init.log,
  # its termination message in $TEST_TMP/termlog (the kubelet makes the file)
  : >"$TEST_TMP/termlog"
  vcx leaf -- env POD_NAME=leaf POD_NAMESPACE=default POD_IP="$LEAF_IP" POD_AMBIENT_REDIRECTION="$1" \
    MESHCUT_SOCKET="$SOCK" MESHCUT_REQUIRED=1 MESHCUT_WAIT=0 MESHCUT_TERMINATION_LOG="$TEST_TMP/termlog" \
    "$BUILD/meshcut-init" >"$TEST_TMP/init.log" 2>&1
}
# a fresh start of every pod (new sidecar pools; every pod registered again),
# then leaf without its registration, as before its init container runs
fresh_leaf() {
  "$VC" restart >"$TEST_TMP/restart.log" 2>&1 || { sed 's/^/# /' "$TEST_TMP/restart.log"; return 1; }
  vcx leaf -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name leaf --pod-namespace default --deregister \
    >/dev/null 2>&1
  ! leaf_registered
}

# --- control: no ambient mark (a sidecar pod): registered and shortcut
check "control: leaf starts unregistered" fresh_leaf
init_leaf ""; rc=$?
diag "meshcut-init, no mark: $(tr '\n' ' ' <"$TEST_TMP/init.log")"
expect_eq "control: meshcut-init without the mark exits 0" 0 "$rc"
check "control: the agent lists leaf as registered" leaf_registered
read -r o0 n0 i0 <<<"$(kinds)"; d0=$(pod_data_segs leaf)
read -r n errs <<<"$(load 1)"
read -r o1 n1 i1 <<<"$(kinds)"; d1=$(pod_data_segs leaf)
diag "control: $n requests, $errs errors; redirected outbound $((o1 - o0)) node_local $((n1 - n0)) inbound $((i1 - i0)); leaf sent $((d1 - d0)) TCP segments"
check "control: leaf's inbound pairs are redirected ($((i1 - i0)) messages for $n requests)" test $((i1 - i0)) -ge "$n"
check "control: the sidecar pair client -> leaf is redirected ($((n1 - n0)) messages)" test $((n1 - n0)) -ge "$n"
check "control: leaf's sidecar and app send next to no TCP data ($((d1 - d0)) segments for $n requests)" \
  test $((d1 - d0)) -lt $((n / 10))

# --- ambient: the mark set, never registered, never paired
check "ambient: leaf starts unregistered" fresh_leaf
log0=$(grep -c 'default/leaf' "$AGENT_LOG")
init_leaf enabled; rc=$?
diag "meshcut-init, ambient: $(tr '\n' ' ' <"$TEST_TMP/init.log")"
expect_eq "ambient: meshcut-init exits 0 (the pod starts), even with MESHCUT_REQUIRED=1" 0 "$rc"
check "ambient: one log line says why" \
  grep -qx 'meshcut-init: info: pod default/leaf is captured by Istio ambient (ambient.istio.io/redirection: enabled): ztunnel carries its traffic, not registering with meshcut' \
  "$TEST_TMP/init.log"
expect_eq "ambient: and nothing else" 1 "$(wc -l <"$TEST_TMP/init.log")"
expect_eq "ambient: the termination message (kubectl describe pod) says why" \
  "skipped: captured by Istio ambient (ambient.istio.io/redirection: enabled)" "$(cat "$TEST_TMP/termlog")"
check "ambient: the agent does not list leaf (and the listing itself worked)" bash -c "set -o pipefail; $(mc_admin_cmd node1) pods --json | jq -e 'all(.[]; .pod != \"default/leaf\")' >/dev/null"
expect_eq "ambient: the agent has 2 pods registered (client and front)" 2 "$(mc_admin node1 status --json | jq .pods)"
expect_eq "ambient: the agent never heard of leaf (no new line about it in its log)" "$log0" \
  "$(grep -c 'default/leaf' "$AGENT_LOG")"
read -r o0 n0 i0 <<<"$(kinds)"; d0=$(pod_data_segs leaf)
read -r n errs <<<"$(load 1)"
read -r o1 n1 i1 <<<"$(kinds)"; d1=$(pod_data_segs leaf)
diag "ambient: $n requests, $errs errors; redirected outbound $((o1 - o0)) node_local $((n1 - n0)) inbound $((i1 - i0)); leaf sent $((d1 - d0)) TCP segments"
check "ambient: traffic to leaf works ($n requests, $errs errors)" test "$n" -gt 0 -a "$errs" = 0
expect_eq "ambient: no inbound pair of leaf is redirected" 0 $((i1 - i0))
expect_eq "ambient: no sidecar pair with leaf is redirected" 0 $((n1 - n0))
check "ambient: leaf's sidecar and app talk TCP ($((d1 - d0)) segments for $n requests)" test $((d1 - d0)) -ge $((2 * n))

# a deregistration still goes through with the mark (nothing to remove here: 404)
vcx leaf -- env POD_AMBIENT_REDIRECTION=enabled "$BUILD/meshcut-init" --socket "$SOCK" --pod-name leaf \
  --pod-namespace default --deregister >"$TEST_TMP/dereg.log" 2>&1
check "ambient: --deregister still asks the agent ($(tr '\n' ' ' <"$TEST_TMP/dereg.log"))" \
  grep -q 'deregister pod default/leaf' "$TEST_TMP/dereg.log"

tap_done
[ "$TAP_FAILED" = 0 ]
