#!/usr/bin/env bash
# An agent the kernel refuses (here: one without its capabilities, so every
# bpf() call fails as on a kernel that lacks what meshcut needs) stays up, live
# but not ready, says why, and answers every registration at once: a pod's
# init container returns within a second and the pod starts without meshcut.
# (It used to exit, crash-loop, and make every injected pod wait 10 s.)
. "$(dirname "$0")/lib.sh"
require_root
TEST_TMP=$(mktemp -d)
pins=/sys/fs/bpf/mcunsup-$$
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cg=$cg2/mcunsup-$$
ns=mcunsup-$$
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null; rmdir "$cg" 2>/dev/null; rm -rf "$pins" "$TEST_TMP"
}
trap cleanup EXIT
mkdir -p "$cg"
sock=$TEST_TMP/agent.sock
# uid 0 with no capability at all (as a DaemonSet missing its securityContext)
setpriv --inh-caps=-all --bounding-set=-all -- "$BUILD/meshcut-agent" --pin-dir "$pins" \
  --cgroup "$cg" --socket "$sock" --http 127.0.0.1:19464 >"$TEST_TMP/agent.log" 2>&1 &
agent_pid=$!
wait_for 50 test -S "$sock"
check "the refused agent stays up (no crash loop)" kill -0 "$agent_pid"
diag "$(head -c 600 "$TEST_TMP/agent.log")"
ready=$(curl -s -o "$TEST_TMP/readyz" -w '%{http_code}' http://127.0.0.1:19464/readyz)
expect_eq "... live: /healthz answers 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:19464/healthz)"
expect_eq "... not ready: /readyz answers 503" 503 "$ready"
check "... and says why ($(head -c 200 "$TEST_TMP/readyz"))" grep -q "CAP_BPF" "$TEST_TMP/readyz"
check "... /metrics says meshcut_supported 0" sh -c "curl -s http://127.0.0.1:19464/metrics | grep -qx 'meshcut_supported 0'"
st=$("$MESHCUT" --socket "$sock" status --json)
expect_eq "... meshcut status says unsupported, with the reason" "false true" \
  "$(jq -r '"\(.supported) \(.reason | test("Operation not permitted"))"' <<<"$st")"
# a pod's init container: answered at once, the pod starts without meshcut
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type dummy && ip -n "$ns" addr add 10.250.0.2/24 dev eth0 && ip -n "$ns" link set eth0 up
t0=$(date +%s.%N)
nsenter --net="/run/netns/$ns" -- "$BUILD/meshcut-init" --socket "$sock" --pod-name web-0 \
  --pod-namespace default --pod-ips 10.250.0.2 >"$TEST_TMP/init.log" 2>&1
rc=$?
t1=$(date +%s.%N)
secs=$(echo "$t1 - $t0" | bc)
diag "meshcut-init: $(tr '\n' ' ' <"$TEST_TMP/init.log")"
expect_eq "meshcut-init exits 0 (fail open)" 0 "$rc"
check "... within a second ($secs s)" test "$(echo "$secs < 1" | bc)" = 1
check "... and says why the pod starts without meshcut" grep -q "cannot run on this node" "$TEST_TMP/init.log"
# --check tries every feature in a scratch cgroup and network namespace
out=$("$BUILD/meshcut-agent" --check --cgroup "$cg" 2>&1); rc=$?
diag "$(sed -n '1p;$p' <<<"$out")"
expect_eq "meshcut-agent --check, with every capability: exit 0" 0 "$rc"
check "... the socket shortcut runs here" grep -q "^socket shortcut: runs here" <<<"$out"
json=$("$BUILD/meshcut-agent" --check --json --cgroup "$cg" 2>/dev/null)
check "... every required feature present ($(jq '[.features[] | select(.status == "ok")] | length' <<<"$json") ok)" \
  jq -e '[.features[] | select(.required and .status != "ok")] | length == 0' <<<"$json"
check "... nothing left behind (no scratch cgroup)" sh -c "! ls -d '$cg'/meshcut-check-* 2>/dev/null | grep -q ."
out=$(setpriv --inh-caps=-all --bounding-set=-all -- "$BUILD/meshcut-agent" --check --json --cgroup "$cg" 2>/dev/null); rc=$?
expect_eq "... without capabilities: exit 1" 1 "$rc"
expect_eq "... and the socket shortcut cannot run, its programs refused" "false missing" \
  "$(jq -r '"\(.socket_shortcut) \(.features[] | select(.feature == "socket shortcut programs load") | .status)"' <<<"$out")"
kill -TERM "$agent_pid"; wait "$agent_pid"; rc=$?; agent_pid=
expect_eq "SIGTERM ends the idle agent cleanly" 0 "$rc"
check "... it pinned no map and attached nothing" sh -c "! find '$pins' -type f 2>/dev/null | grep -q ."
tap_done
