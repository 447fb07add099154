#!/usr/bin/env bash
# meshcut-init, and the capture it tells the agent about:
#  1. a node without a working agent never blocks a pod: with the socket's
#     directory there but no agent, with a stale socket, and with an agent that
#     accepts and never answers, meshcut-init gives up after its wait
#     (MESHCUT_WAIT) and exits 0, so the kubelet starts the pod (without
#     meshcut);
#  2. a pod whose sidecar captures only some inbound ports (Istio's
#     traffic.sidecar.istio.io/includeInboundPorts, istio-iptables -b 7070,
#     while -d still lists 15090,15021,15020) registers, and is shortcut
#     exactly where Istio captures: on 7070 all three socket pairs are
#     redirected and the pod sends next to no TCP data; on 9080, which its app
#     also serves and Istio leaves alone, the sidecar pair (3<->4) and the
#     inbound pair (5<->6) do not exist and every answer is a TCP segment.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mccapt
TEST_TMP=$(mktemp -d)
INIT=$BUILD/meshcut-init
PIDS=()
cleanup_pids() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap 'rc=$?; cleanup_pids; (exit $rc); vc_test_cleanup' EXIT

# --- 1. no agent: fail open after the wait ---
# run_init WAIT SOCKET: meshcut-init as the webhook runs it, bounded by a
# timeout far above what the wait allows; "RC SECONDS", log in $TEST_TMP/init.log
run_init() {
  local t0 t1 rc
  t0=$(date +%s.%N)
  MESHCUT_WAIT=$1 POD_NAME=p POD_NAMESPACE=default POD_IP=10.244.9.9 \
    timeout 25 "$INIT" --socket "$2" >"$TEST_TMP/init.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  echo "$rc $(echo "$t1 - $t0" | bc)"
}
within() { [ "$(echo "$1 >= $2 && $1 < $3" | bc)" = 1 ]; } # SECONDS LOW HIGH
mkdir -p "$TEST_TMP/run"

read -r rc took <<<"$(run_init 10 "$TEST_TMP/run/agent.sock")"
expect_eq "no agent (its directory there, no socket): meshcut-init exits 0" 0 "$rc"
check "no agent: it gave up after waiting MESHCUT_WAIT=10 s ($took s)" within "$took" 9 20
check "no agent: its log says it waited, and that the pod starts without meshcut" \
  bash -c "grep -q 'waiting up to 10 s for the agent' '$TEST_TMP/init.log' && grep -q 'the pod starts without meshcut' '$TEST_TMP/init.log'"

# a socket file nobody listens on (an agent that died without removing it)
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$TEST_TMP/run/stale.sock"
read -r rc took <<<"$(run_init 2 "$TEST_TMP/run/stale.sock")"
expect_eq "stale socket: meshcut-init exits 0" 0 "$rc"
check "stale socket: after its wait, MESHCUT_WAIT=2 ($took s)" within "$took" 1.5 10

# an agent that accepts connections and never answers (hung): each try lasts
# meshcut-init's 5 s timeout, and the wait must still end on the clock
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$TEST_TMP/run/hung.sock" &
PIDS+=($!)
wait_for 50 test -S "$TEST_TMP/run/hung.sock"
read -r rc took <<<"$(run_init 3 "$TEST_TMP/run/hung.sock")"
expect_eq "hung agent: meshcut-init exits 0" 0 "$rc"
check "hung agent: within its wait plus one try ($took s for MESHCUT_WAIT=3, 5 s a try)" within "$took" 2.5 12
cleanup_pids; PIDS=()

# --- 2. an inbound include list ---
"$VC" up --topology "$ROOT/tests/topologies/include-inbound.json" --meshcut >"$TEST_TMP/up.log" 2>&1
rc=$?
check "a pod with an inbound include list (and -d beside it) registers: the cluster comes up with meshcut" [ "$rc" = 0 ]
if [ "$rc" != 0 ]; then
  sed 's/^/# /' "$TEST_TMP/up.log"
  tap_done
  exit 1
fi
ns=$(pod_netns partial)
ip=$(pod_ip partial)
check "istio-init rules as istio-iptables -b 7070 writes them: one redirect for 7070, no catch-all" \
  bash -c "ip netns exec $ns iptables-save -t nat | grep -Eq -- '^-A ISTIO_INBOUND -p tcp (-m tcp )?--dport 7070 -j ISTIO_IN_REDIRECT' &&
           ! ip netns exec $ns iptables-save -t nat | grep -Eq -- '^-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT'"
pods=$(vcx node1 -- "$MESHCUT" --socket "$(node_sock node1)" pods --json)
check "the agent holds the include list, and no exclude list, for the pod" \
  jq -e '[.[] | select(.pod == "default/partial")] | length == 1 and (.[0].include_inbound_ports == [7070]) and (.[0] | has("exclude_inbound_ports") | not)' <<<"$pods"
jq -c '.[] | select(.pod == "default/partial")' <<<"$pods" | sed 's/^/# /'

kinds() { stats_json node1 | jq -r '"\(.redirected.outbound) \(.redirected.node_local) \(.redirected.inbound)"'; }
near() { local d=$(( $1 - $2 )); [ ${d#-} -le "$3" ]; }

# 9080: not captured; the client's sidecar connects straight to the app
read -r o0 n0 i0 <<<"$(kinds)"; s0=$(pod_data_segs partial)
n=$(vcx client -- "$BUILD/tests/meshload" --url "http://$ip:9080/" -c 1 -d 2 --warmup 0.2 --json |
  jq '.requests + .warmup_requests')
read -r o1 n1 i1 <<<"$(kinds)"; s1=$(pod_data_segs partial)
diag "9080: $n requests; redirected outbound $((o1 - o0)) node $((n1 - n0)) inbound $((i1 - i0)); the pod sent $((s1 - s0)) TCP data segments"
check "9080 (not captured): answered ($n requests)" test "${n:-0}" -gt 100
check "9080: the client's own pair (1<->2) is still redirected, 2 messages a request" near $((o1 - o0)) $((2 * n)) 16
expect_eq "9080: no sidecar pair (3<->4) redirected: Istio does not capture the port" 0 $((n1 - n0))
expect_eq "9080: no inbound pair (5<->6) redirected: there is none" 0 $((i1 - i0))
check "9080: the pod answers over TCP, a segment a request ($((s1 - s0)) for $n)" test $((s1 - s0)) -ge "$n"

# 7070: captured; all three pairs are shortcut
count=3000
read -r o0 n0 i0 <<<"$(kinds)"; s0=$(pod_data_segs partial)
out=$(vcx client -- "$BUILD/tests/meshstream" --connect "$(svc_addr partial)" --mode rr --count $count --size 64 \
  --json --timeout 60)
read -r o1 n1 i1 <<<"$(kinds)"; s1=$(pod_data_segs partial)
diag "7070: $count round trips; redirected outbound $((o1 - o0)) node $((n1 - n0)) inbound $((i1 - i0)); the pod sent $((s1 - s0)) TCP data segments"
check "7070 (captured): every round trip answered and checked" jq -e '.ok' <<<"$out"
check "7070: the client's pair (1<->2) redirected, 2 messages a round trip" near $((o1 - o0)) $((2 * count)) 16
check "7070: the sidecar pair (3<->4) redirected, 2 messages a round trip" near $((n1 - n0)) $((2 * count)) 16
check "7070: the inbound pair (5<->6) redirected, 2 messages a round trip" near $((i1 - i0)) $((2 * count)) 16
check "7070: the pod sends next to no TCP data ($((s1 - s0)) segments for $count round trips)" test $((s1 - s0)) -le 16

tap_done
[ "$TAP_FAILED" = 0 ]
