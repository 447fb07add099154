#!/usr/bin/env bash
# "Why is this pod not accelerated?" (issue 20, point 5), for each reason:
#  - registered: meshcut-init's termination message says "registered: ..."
#    with the pod, its IPs and ports; `meshcut why NS/POD` (and by IP) on the
#    node says registered, with the pod's policy (its excluded inbound port),
#    and the live pairs the pod opened while it sends requests; node-wide
#    fallbacks are said to be node-wide; a pod may ask about itself, not about
#    another pod;
#  - lone ends (sockets whose peer never came) leave the SOCKHASH on the
#    agent's periodic walk, with no notification, and their connections go
#    on over TCP;
#  - refused: a registration the agent refuses (include_outbound_ports, which
#    meshcut cannot honour): "refused: <the agent's reason>" in the message,
#    and `meshcut why` says not registered, refused, with that reason (exit
#    1), by name and by IP; registering again forgets the refusal;
#  - agent absent: meshcut-init pointed at a socket without an agent writes
#    "agent absent: ..."; `meshcut why` for a pod the agent never heard of:
#    exit 1, pointing at the termination message;
#  - unsupported kernel: an agent the kernel refuses (no capabilities, as in
#    unsupported.t): "unsupported kernel: ..." and `meshcut why` says so;
#  - skipped: an interception mode meshcut does not accelerate and an invalid
#    setting;
#  - the file: only written when it exists (the kubelet makes it; outside a
#    container /dev/termination-log is the host's), and a file that cannot be
#    written changes no exit status (fail open).
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcwhy
TEST_TMP=$(mktemp -d)
INIT=$BUILD/meshcut-init
pins=/sys/fs/bpf/mcwhy-$$
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cg=$cg2/mcwhy-$$
uagent= STREAM_PID=
cleanup_why() {
  [ -n "$STREAM_PID" ] && kill "$STREAM_PID" 2>/dev/null && wait "$STREAM_PID" 2>/dev/null
  [ -n "$uagent" ] && kill "$uagent" 2>/dev/null && wait "$uagent" 2>/dev/null
  rmdir "$cg" 2>/dev/null; rm -rf "$pins"
  vc_test_cleanup
}
trap cleanup_why EXIT

"$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
SOCK=$(node_sock node1)
oneline() { tr '\n' ' ' <<<"$1" | cut -c1-300; } # for TAP descriptions
# init POD TERMFILE ARGS...: meshcut-init in POD's namespace as the webhook runs
# it, its termination message file made first (as the kubelet makes it)
init() {
  local pod=$1 term=$2; shift 2
  : >"$term"
  vcx "$pod" -- "$INIT" --pod-name "$pod" --pod-namespace default --pod-ips "$(pod_ip "$pod")" \
    --termination-log "$term" "$@" >"$TEST_TMP/init.log" 2>&1
}
lines() { wc -l <"$1"; }
has() { grep -Eq "$1" <<<"$2"; } # ERE TEXT

# --- registered
ip=$(pod_ip excl-in)
init excl-in "$TEST_TMP/t.reg" --socket "$SOCK" --exclude-inbound-ports 15090,15021,15020,9080 \
  --exclude-outbound-ports '' --exclude-outbound-cidrs ''; rc=$?
expect_eq "registered: meshcut-init exits 0" 0 "$rc"
expect_eq "... its termination message is one line: registered, the pod, its IP and ports" \
  "1 registered: default/excl-in $ip, ports 15001 out 15006 in, uid 1337, app sockets shortcut (refreshed)" \
  "$(lines "$TEST_TMP/t.reg") $(cat "$TEST_TMP/t.reg")"
out=$(mc_admin node1 why default/excl-in); rc=$?
diag "$(cat <<<"$out")"
expect_eq "meshcut why default/excl-in: exit 0" 0 "$rc"
check "... says registered (accelerated)" grep -q "^default/excl-in: registered (accelerated)" <<<"$out"
check "... with its policy: inbound port 9080 excluded, sidecar ports and uid" \
  eval 'has "^  inbound ports excluded +.*9080" "$out" && has "15001 outbound, 15006 inbound, proxy uid 1337" "$out"'
check "... and says its fallback counts are node-wide" grep -q "node-wide only (no per-pod counters)" <<<"$out"
js=$(mc_admin node1 why "$ip" --json); rc=$?
expect_eq "meshcut why IP --json: exit 0, registered, that pod" "0 true default/excl-in" \
  "$rc $(jq -r '"\(.registered) \(.pods[0].pod)"' <<<"$js")"
out=$(vcx excl-in -- "$MESHCUT" --socket "$SOCK" why default/excl-in 2>&1); rc=$?
expect_eq "a pod may ask about itself (from its own namespace, not admin): exit 0" 0 "$rc"
out=$(vcx excl-in -- "$MESHCUT" --socket "$SOCK" why default/client 2>&1); rc=$?
check "... not about another pod: exit 1, needs an admin ($(oneline "$out"))" \
  eval '[ $rc = 1 ] && has "needs an admin caller" "$out"'

# live pairs: HTTP load from client to ds over kept-alive connections
# (request and answer: no backlog, the pairs stay on the shortcut)
vcx client -- "$BUILD/tests/meshload" --url "http://$(svc_addr ds)/" -c 2 -t 1 -d "$(slow 30)" --warmup 0 \
  --json >"$TEST_TMP/load.json" 2>&1 &
STREAM_PID=$!
pairs() { mc_admin node1 why default/client --json | jq -r '.pods[0].pairs | "\(.outbound.pairs) \(.node_local.pairs)"'; }
pairs_seen() { p=$(pairs); [ "${p% *}" -ge 1 ] 2>/dev/null && [ "${p#* }" -ge 1 ] 2>/dev/null; }
wait_for 150 pairs_seen ||
  diag "node: $(stats_json node1 | jq -c '{pairs_live, sockets}'); load: $(head -c 300 "$TEST_TMP/load.json")"
diag "client's pairs under load (outbound node_local): $p"
check "while client sends requests, why counts its live outbound and sidecar pairs ($p)" \
  test "${p% *}" -ge 1 -a "${p#* }" -ge 1 2>/dev/null
p=$(mc_admin node1 why default/plain --json | jq -r '.pods[0].pairs | [.[] | .pairs] | add')
expect_eq "... and none for a pod that opened nothing" 0 "$p"
kill "$STREAM_PID" 2>/dev/null; wait "$STREAM_PID" 2>/dev/null; STREAM_PID=

# --- lone ends: the agent's periodic walk (every 2 s, agent/main.c) is all
# that takes a socket whose peer never came out of the SOCKHASH: no leave
# notification is posted for it. A rule in client's namespace lets three of
# its app's connections to excl-in:9080 bypass its sidecar, as a capture that
# differs from what the pod registered would; meshcut still classifies them as
# captured, so each is a lone end (its sidecar end never comes).
cns=$(pod_netns client); dst=$(pod_ip excl-in)
bypass=(-p tcp -d "$dst" --dport 9080 -j ACCEPT) # the vcluster's netns goes at cleanup
ip netns exec "$cns" iptables -w -t nat -I OUTPUT 1 "${bypass[@]}"
status_n() { mc_admin node1 status --json | jq -r "$1"; }
kind_n() { stats_json node1 | jq -r ".kinds.outbound.$1"; }
in_sockhash() { status_n .maps.sockhash; }
o0=$(kind_n sockets) p0=$(kind_n pairs) h0=$(in_sockhash)
# hold three connections open; on a file's signal, a keep-alive request on each
vcx client -- bash -c '
  for i in 1 2 3; do exec {fd}<>"/dev/tcp/$1/9080" || exit 1; fds+=("$fd"); done
  touch "$2/lone.open"
  until [ -e "$2/lone.go" ]; do sleep 0.1; done
  for fd in "${fds[@]}"; do
    printf "GET / HTTP/1.1\r\nHost: lone\r\n\r\n" >&"$fd"; timeout "$3" cat <&"$fd"; echo
  done >"$2/lone.answers"
  touch "$2/lone.done"' lone "$dst" "$TEST_TMP" "$(slow 1)" >"$TEST_TMP/lone.log" 2>&1 &
STREAM_PID=$!
wait_for 100 test -e "$TEST_TMP/lone.open"
t0=$(date +%s.%N)
lone_gone() { [ "$(in_sockhash)" -le "$h0" ]; } # a quiet cluster: only they come and go
wait_for 100 lone_gone
took=$(echo "$(date +%s.%N) - $t0" | bc)
expect_eq "three lone ends: their sockets went into the SOCKHASH, no pair formed (sockets, pairs)" \
  "3 0" "$(( $(kind_n sockets) - o0 )) $(( $(kind_n pairs) - p0 ))"
check "... and the agent's walk took them out while nothing told it to ($(in_sockhash) sockets in the SOCKHASH, $h0 before; ${took%??????} s)" \
  lone_gone
expect_eq "... why counts no waiting outbound pair for client any more" 0 \
  "$(mc_admin node1 why default/client --json | jq -r '.pods[0].pairs.outbound.waiting')"
touch "$TEST_TMP/lone.go"
wait_for 100 test -e "$TEST_TMP/lone.done"
expect_eq "... the three connections, open all along, still answer (over TCP)" 3 \
  "$(grep -c '^HTTP/1.1 200' "$TEST_TMP/lone.answers" 2>/dev/null)"
wait "$STREAM_PID" 2>/dev/null; STREAM_PID=
ip netns exec "$cns" iptables -w -t nat -D OUTPUT "${bypass[@]}"

# --- refused (the agent refuses what it cannot honour)
mc_admin node1 deregister default/client2 >/dev/null
ip2=$(pod_ip client2)
init client2 "$TEST_TMP/t.ref" --socket "$SOCK" --include-outbound-ports 80; rc=$?
expect_eq "refused: meshcut-init exits 0 (fail open)" 0 "$rc"
expect_eq "... its termination message: refused, with the agent's reason" \
  "1 refused: include_outbound_ports: not supported by meshcut; this pod cannot be accelerated (HTTP 400)" \
  "$(lines "$TEST_TMP/t.ref") $(cat "$TEST_TMP/t.ref")"
out=$(mc_admin node1 why default/client2); rc=$?
diag "$(cat <<<"$out")"
expect_eq "meshcut why default/client2: exit 1" 1 "$rc"
check "... not registered: refused, with the agent's reason" \
  grep -q "^default/client2: not registered: refused (HTTP 400): include_outbound_ports: not supported by meshcut" <<<"$out"
js=$(mc_admin node1 why "$ip2" --json); rc=$?
expect_eq "... by IP --json: exit 1, refused, that pod" "1 refused default/client2" \
  "$rc $(jq -r '"\(.outcome) \(.refusals[0].pod)"' <<<"$js")"
init client2 "$TEST_TMP/t.ref2" --socket "$SOCK" --exclude-inbound-ports 15090,15021,15020 \
  --exclude-outbound-ports 9081; rc=$?
expect_eq "registered again: $(cat "$TEST_TMP/t.ref2")" "0 registered" "$rc $(cut -d: -f1 "$TEST_TMP/t.ref2")"
out=$(mc_admin node1 why default/client2); rc=$?
expect_eq "... why says registered, the refusal forgotten" "0 0" \
  "$rc $(mc_admin_curl node1 http://meshcut-agent/v1/refusals | jq '[.[] | select(.pod == "default/client2")] | length')"

# --- agent absent
init client "$TEST_TMP/t.abs" --socket "$TEST_TMP/no-agent.sock" --wait 0; rc=$?
expect_eq "agent absent: meshcut-init exits 0" 0 "$rc"
check "... its termination message: agent absent, and what failed ($(cat "$TEST_TMP/t.abs"))" \
  grep -qx "agent absent: agent unreachable at $TEST_TMP/no-agent.sock: .*" "$TEST_TMP/t.abs"
expect_eq "... one line" 1 "$(lines "$TEST_TMP/t.abs")"
# the chart's logFormat json reaches meshcut-init as MESHCUT_LOG_FORMAT (the
# webhook's --log-json): every line it logs is then one JSON object
vcx client -- env MESHCUT_LOG_FORMAT=json "$INIT" --pod-name client --pod-namespace default \
  --socket "$TEST_TMP/no-agent.sock" --wait 0 --termination-log "" >"$TEST_TMP/init.json" 2>&1
check "MESHCUT_LOG_FORMAT=json: meshcut-init logs JSON lines ($(head -c 300 "$TEST_TMP/init.json"))" \
  jq -se 'length >= 2 and all(.prog == "meshcut-init" and (.msg | type) == "string")' "$TEST_TMP/init.json"
out=$(mc_admin node1 why default/nosuch 2>&1); rc=$?
expect_eq "meshcut why for a pod the agent never heard of: exit 1" 1 "$rc"
check "... saying so, and where to look ($(oneline "$out"))" \
  grep -q "is not registered on this node, and the agent remembers no refusal.*kubectl describe pod" <<<"$out"
out=$(mc_admin node1 why default 2>&1); rc=$?
expect_eq "meshcut why with a bad argument: exit 2" 2 "$rc"

# --- skipped
init client "$TEST_TMP/t.skip" --socket "$SOCK" --interception-mode TPROXY; rc=$?
expect_eq "skipped (TPROXY): exit 0, $(cat "$TEST_TMP/t.skip")" \
  "0 skipped: interception mode TPROXY: meshcut only accelerates REDIRECT" "$rc $(cat "$TEST_TMP/t.skip")"
init client "$TEST_TMP/t.bad" --socket "$SOCK" --exclude-outbound-cidrs 10.0.0.0/33; rc=$?
check "skipped (an invalid setting): exit 0, naming it ($(cat "$TEST_TMP/t.bad"))" \
  sh -c "[ $rc = 0 ] && grep -q '^skipped: invalid setting: exclude_outbound_cidrs: ' '$TEST_TMP/t.bad'"

# --- the file itself: never created, never fatal
rm -f "$TEST_TMP/t.none"
vcx client -- "$INIT" --pod-name client --pod-namespace default --pod-ips "$(pod_ip client)" \
  --socket "$TEST_TMP/no-agent.sock" --wait 0 --termination-log "$TEST_TMP/t.none" >/dev/null 2>&1
check "a termination message file that does not exist is not created" test ! -e "$TEST_TMP/t.none"
check "... nor the default one outside a container (/dev/termination-log)" test ! -e /dev/termination-log
mkdir "$TEST_TMP/t.dir"
vcx client -- "$INIT" --pod-name client --pod-namespace default --pod-ips "$(pod_ip client)" \
  --socket "$TEST_TMP/no-agent.sock" --wait 0 --required --termination-log "$TEST_TMP/t.dir" >"$TEST_TMP/init.log" 2>&1; rc=$?
expect_eq "a file that cannot be written: the exit status is unchanged (--required, absent: 3)" 3 "$rc"
check "... and it says why in the log ($(oneline "$(cat "$TEST_TMP/init.log")"))" \
  grep -q "termination message $TEST_TMP/t.dir: Is a directory" "$TEST_TMP/init.log"

# --- unsupported kernel: an agent without capabilities (unsupported.t)
mkdir -p "$cg"
usock=$TEST_TMP/unsup.sock
setpriv --inh-caps=-all --bounding-set=-all -- "$BUILD/meshcut-agent" --pin-dir "$pins" \
  --cgroup "$cg" --socket "$usock" >"$TEST_TMP/uagent.log" 2>&1 &
uagent=$!
wait_for 50 test -S "$usock"
init client "$TEST_TMP/t.uns" --socket "$usock"; rc=$?
expect_eq "unsupported kernel: meshcut-init exits 0" 0 "$rc"
check "... its termination message: unsupported kernel, with the reason ($(cat "$TEST_TMP/t.uns"))" \
  grep -qx "unsupported kernel: meshcut cannot run on this node: .*Operation not permitted.*" "$TEST_TMP/t.uns"
out=$("$MESHCUT" --socket "$usock" why default/client); rc=$?
expect_eq "meshcut why on that node: exit 1" 1 "$rc"
check "... says unsupported kernel, with the reason ($(oneline "$out"))" \
  grep -q "^default/client: not accelerated: unsupported kernel: meshcut cannot run on this node: .*Operation not permitted" <<<"$out"
tap_done
