#!/usr/bin/env bash
# The socket shortcut pairs exactly Istio's three socket pairs: each pair
# type's counter grows by exactly what a request sends, redirected hops send
# no TCP data at all, cross-node pairs are never redirected (the two virtual
# nodes share one kernel), unregistered pods and excluded ports are left
# alone, a dual-stack listener is paired, a pair forms when NAT rewrote the
# client port, and modes switch at run time.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcsct
TEST_TMP=$(mktemp -d)

kinds() { # NODE -> "outbound node_local inbound" redirected message counts
  stats_json "$1" | jq -r '"\(.redirected.outbound) \(.redirected.node_local) \(.redirected.inbound)"'
}
all_segs() { # total TCP data segments sent by every pod
  local t=0 p
  for p in $("$VC" status --json | jq -r '.pods[].name'); do t=$((t + $(pod_data_segs "$p"))); done
  echo $t
}
# N keep-alive requests from the client pod, through its sidecar
load() { # URL SECONDS -> total requests (warmup included)
  vcx client -- "$BUILD/tests/meshload" --url "$1" -c 1 -d "$2" --warmup 0.2 --json |
    jq '.requests + .warmup_requests'
}
# TCP data segments sent by PODS (default: all) while keep-alive load runs in
# steady state. The window is found by the load's own progress, not by the
# clock (reading every pod's counters takes a while, far longer in the 6.1
# VM): it opens once the load has redirected 2000 messages (its connections
# made: a connection's first message may race the peer's handshake and go
# over TCP), closes after 2000 more, and only then the load stops (its last
# answers and closes are outside it).
redirected() { stats_json node1 | jq '[.redirected[]] | add'; }
steady_segs() { # URL [POD...] -> "segments redirected-messages"
  local url=$1 s0 s1 r0 r1 p pid start; shift
  pods() { if [ $# -gt 0 ]; then echo "$@"; else "$VC" status --json | jq -r '.pods[].name'; fi; }
  start=$(redirected)
  # exec: $! is meshload itself (vcluster exec ends in exec), which the kill stops
  (exec "$VC" exec client -- "$BUILD/tests/meshload" --url "$url" -c 1 -d 600 --warmup 0 --json >/dev/null) &
  pid=$!
  wait_for 300 sh -c "[ \$($(mc_admin_cmd node1) stats --json | jq '[.redirected[]] | add') -ge $((start + 2000)) ]"
  s0=0; for p in $(pods "$@"); do s0=$((s0 + $(pod_data_segs "$p"))); done
  r0=$(redirected)
  wait_for 300 sh -c "[ \$($(mc_admin_cmd node1) stats --json | jq '[.redirected[]] | add') -ge $((r0 + 2000)) ]"
  s1=0; for p in $(pods "$@"); do s1=$((s1 + $(pod_data_segs "$p"))); done
  r1=$(redirected)
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$((s1 - s0)) $((r1 - r0))"
}
near() { # A B TOLERANCE: |A - B| <= TOLERANCE
  local d=$(( $1 - $2 )); [ ${d#-} -le "$3" ]
}

# --- same-node chain: client -> productpage -> details, reviews (-> ratings)
for tls in plain tls; do
  flags=(); [ $tls = tls ] && flags=(--tls)
  "$VC" up --placement one-node --meshcut "${flags[@]}" >"$TEST_TMP/up.log" 2>&1 ||
    { not_ok "$tls: up"; sed 's/^/# /' "$TEST_TMP/up.log"; continue; }
  url="http://$(svc_addr productpage)/"
  load "$url" 0.3 >/dev/null # every sidecar pool connection exists
  read -r o0 n0 i0 <<<"$(kinds node1)"
  n=$(load "$url" 2)
  read -r o1 n1 i1 <<<"$(kinds node1)"
  # hops per request: client->productpage, ->details, ->reviews, and ->ratings
  # for 2 of the 3 reviews versions (round robin); 2 messages per pair and hop.
  # Tolerance: the request in flight when each load run stops (about 7
  # messages per kind each) is counted by meshcut, not by meshload.
  hops3=$(( 3 * (3 * n) + 2 * n ))          # 3 x hops, to stay in integers
  expect=$(( 2 * hops3 / 3 ))
  diag "$tls: $n requests; redirected per kind: outbound $((o1 - o0)) node $((n1 - n0)) inbound $((i1 - i0)); expected $expect each"
  check "$tls: outbound pairs (1<->2) redirect 2 messages per hop" near $((o1 - o0)) "$expect" 16
  # with TLS between the sidecars a message is a TLS record, and a sidecar
  # that reads a request in two parts (a slow machine) writes it as two
  # records: up to 1 in 50 more there
  tol=16; [ $tls = tls ] && tol=$((16 + expect / 50))
  check "$tls: sidecar pairs (3<->4) redirect 2 messages per hop" near $((n1 - n0)) "$expect" "$tol"
  check "$tls: inbound pairs (5<->6) redirect 2 messages per hop" near $((i1 - i0)) "$expect" 16
  fb=$(stats_json node1 | jq .fallback)
  expect_eq "$tls: no connection fell back to TCP" 0 "$fb"
  # (before the steady window: it ends by stopping its load mid-request, and a
  # sidecar's answer to the closed connection finds its peer gone)
  read -r segs msgs <<<"$(steady_segs "$url")"
  check "$tls: under steady keep-alive load no pod sends a TCP data segment ($segs segments, $msgs messages redirected meanwhile)" test "$segs" = 0 -a "$msgs" -gt 1000

  # pooled connections that read every byte, then mode off: the drain flips
  # them and waits until each reader read what was redirected to it. A recv
  # hook that missed bytes leaves a backlog that never reaches 0.
  "$VC" restart >/dev/null 2>&1 # not the connection steady_segs cut mid-request
  load "$url" 0.5 >/dev/null
  m0=$(stats_json node1 | jq .to_tcp.mode)
  mc_admin node1 mode off >/dev/null
  drain_clean "$tls"
  m1=$(stats_json node1 | jq .to_tcp.mode)
  check "$tls: mode off moved the live pairs to TCP ($((m1 - m0)))" test $((m1 - m0)) -gt 0
  # the same mesh without meshcut: 2 data segments per socket pair and hop
  "$VC" meshcut stop >/dev/null 2>&1
  "$VC" restart >/dev/null 2>&1
  load "$url" 0.3 >/dev/null
  s0=$(all_segs)
  n=$(load "$url" 2)
  s1=$(all_segs)
  per=$(( (s1 - s0) * 100 / n ))   # x100
  diag "$tls: without meshcut: $(( (s1 - s0) )) segments for $n requests"
  # 3 pairs x 2 segments x (3 + 2/3) hops = 22 per request
  check "$tls: without meshcut each request sends 22 TCP data segments (got $per/100)" near "$per" 2200 60
  "$VC" down >/dev/null 2>&1
done

# --- two nodes: cross-node pairs are never socket-redirected
"$VC" up --meshcut >"$TEST_TMP/up.log" 2>&1 || { not_ok "two nodes: up"; sed 's/^/# /' "$TEST_TMP/up.log"; }
url="http://$(svc_addr details)/"
load "$url" 0.3 >/dev/null
read -r a0 b0 c0 <<<"$(kinds node1)"; read -r d0 e0 f0 <<<"$(kinds node2)"
u0=$(ip -n "$("$VC" status --json | jq -r '.nodes[0].netns')" -s -j link show ul0 | jq '.[0].stats64.tx.bytes')
n=$(load "$url" 1)
read -r a1 b1 c1 <<<"$(kinds node1)"; read -r d1 e1 f1 <<<"$(kinds node2)"
u1=$(ip -n "$("$VC" status --json | jq -r '.nodes[0].netns')" -s -j link show ul0 | jq '.[0].stats64.tx.bytes')
expect_eq "client (node1) -> details (node2): node1 redirects no sidecar pair" 0 $((b1 - b0))
expect_eq "client (node1) -> details (node2): node2 redirects no sidecar pair" 0 $((e1 - e0))
check "the client's own pair (1<->2, node1) is redirected" near $((a1 - a0)) $((2 * n)) 4
check "details' own pair (5<->6, node2) is redirected" near $((f1 - f0)) $((2 * n)) 4
check "the underlay carries the requests ($((u1 - u0)) bytes for $n requests)" test $((u1 - u0)) -ge $((n * 100))
"$VC" down >/dev/null 2>&1

# --- edge cases on one node
"$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut >"$TEST_TMP/up.log" 2>&1 ||
  { not_ok "edge: up"; sed 's/^/# /' "$TEST_TMP/up.log"; }
ds_url="http://$(svc_addr ds)/"
load "$ds_url" 0.2 >/dev/null

# NAT may rewrite the client's port: a second connection from the same port
# to another service clashes with the first one's conntrack reply tuple
# (127.0.0.1:15001 -> pod:PORT, kept 120 s after close), so the sidecar's
# accepted socket sees another port than the app's. The pair must still form
# (it is identified by the ISNs, not the port).
cat >"$TEST_TMP/natclash.py" <<'EOF_PY'
import json, socket, subprocess, sys
port = 23456
def request(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    h, body = head.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in h.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(4096)
def conn(host, p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.connect((host, p))
    return s
a = conn(sys.argv[1], int(sys.argv[2])); request(a); a.close()
b = conn(sys.argv[3], int(sys.argv[4]))
request(b)
seen = subprocess.run(["ss", "-Htn", "state", "established", "( sport = :15001 )"],
                      capture_output=True, text=True).stdout.split()
peers = [int(w.rsplit(":", 1)[1]) for w in seen if w.count(".") == 3 and not w.startswith("127.")]
for _ in range(9):
    request(b)
print(json.dumps({"app_port": port, "sidecar_saw": peers}))
b.close()
EOF_PY
read -r o0 _ _ <<<"$(kinds node1)"
out=$(vcx client -- python3 "$TEST_TMP/natclash.py" "$(svc_addr ds | cut -d: -f1)" 9080 "$(svc_addr plain | cut -d: -f1)" 9081)
read -r o1 _ _ <<<"$(kinds node1)"
check "NAT port clash: the sidecar saw a rewritten client port ($out)" \
  jq -e '.sidecar_saw | length > 0 and all(. != 23456)' <<<"$out"
check "NAT port clash: that app <-> sidecar pair is still redirected ($((o1 - o0)) outbound messages for 11 requests)" \
  test $((o1 - o0)) -ge 15
read -r o0 n0 i0 <<<"$(kinds node1)"; d0=$(pod_data_segs ds)
n=$(load "$ds_url" 1)
read -r o1 n1 i1 <<<"$(kinds node1)"; d1=$(pod_data_segs ds)
check "dual-stack listener (v4-mapped peer): inbound pair redirected ($((i1 - i0)) msgs, $n requests)" near $((i1 - i0)) $((2 * n)) 4
expect_eq "dual-stack listener: the pod sends no TCP data" 0 $((d1 - d0))
nsenter --net="/run/netns/$(pod_netns ds)" ss -Htn state established | grep -q '\[::ffff:127.0.0.6\]' &&
  ok "dual-stack listener: the app's socket is IPv6 with a v4-mapped peer" ||
  not_ok "dual-stack listener: the app's socket is IPv6 with a v4-mapped peer"

# IPv6: the pod gets an IPv6 address too (and ::6, Istio's IPv6 passthrough
# source, on lo), registers both; an inbound-shaped pair over IPv6 is paired
ns=$(pod_netns ds)
ip -n "$ns" addr add fd00:10:244:1::99/64 dev eth0 nodad
ip -n "$ns" addr add ::6/128 dev lo
vcx ds -- "$BUILD/meshcut-init" --socket "$(node_sock node1)" --pod-name ds --pod-namespace default \
  --pod-ips "$(pod_ip ds),fd00:10:244:1::99" --required >/dev/null 2>&1
check "a pod registers an IPv4 and an IPv6 address" sh -c "$(mc_admin_cmd node1) pods --json | jq -e '.[] | select(.pod == \"default/ds\") | .ips | length == 2' >/dev/null"
read -r o0 n0 i0 <<<"$(kinds node1)"
r6=$(vcx ds -- "$BUILD/tests/sockcompat" --scenario echo --addr fd00:10:244:1::99 --src ::6 --app-reads)
read -r o1 n1 i1 <<<"$(kinds node1)"
check "IPv6: 1 MiB echoed intact over a pair from ::6 ($r6)" jq -e '.intact and .client_got == 1048576' <<<"$r6"
check "IPv6: that pair was redirected ($((i1 - i0)) inbound messages)" test $((i1 - i0)) -ge 10

# an inbound port Istio excludes: connections to it are not captured, so its
# app socket is no pair; the pod sends TCP data for it
e_url="http://$(svc_addr excl-in)/"
read -r o0 n0 i0 <<<"$(kinds node1)"; d0=$(pod_data_segs excl-in)
n=$(load "$e_url" 1)
read -r o1 n1 i1 <<<"$(kinds node1)"; d1=$(pod_data_segs excl-in)
check "excluded inbound port: no inbound pair is redirected" test $((i1 - i0)) = 0
check "excluded inbound port: no sidecar pair is redirected" test $((n1 - n0)) = 0
check "excluded inbound port: the app answers over TCP ($((d1 - d0)) segments)" test $((d1 - d0)) -ge "$n"
# an outbound port Istio excludes (client2 excludes 9081): the app talks TCP directly
plain=$(pod_ip plain)
c0=$(pod_data_segs client2)
r=$(vcx client2 -- curl -s -o /dev/null -w '%{http_code}' "http://$plain:9081/")
c1=$(pod_data_segs client2)
expect_eq "excluded outbound port: the request still works" 200 "$r"
check "excluded outbound port: client2's app sent TCP data ($((c1 - c0)) segments)" test $((c1 - c0)) -ge 1
read -r segs msgs <<<"$(steady_segs "http://$plain:9081/" client)"
check "the same calls from a client without the exclusion send no TCP data ($segs segments, $msgs messages redirected)" test "$segs" = 0 -a "$msgs" -gt 100

# an unregistered pod: its sockets are never paired, its traffic still flows
# (restart first: fresh sidecar pools, and a restarted pod registers again
# like every pod whose init container runs)
sock=$(node_sock node1)
"$VC" restart >/dev/null 2>&1
vcx plain -- "$BUILD/meshcut-init" --socket "$sock" --pod-name plain --pod-namespace default --deregister >/dev/null 2>&1
check "meshcut pods no longer lists the deregistered pod" sh -c "! $(mc_admin_cmd node1) pods | grep -q default/plain"
p_url="http://$(svc_addr plain)/"
d0=$(pod_data_segs plain)
n=$(load "$p_url" 1)
d1=$(pod_data_segs plain)
check "unregistered pod: its sidecar and app talk TCP ($((d1 - d0)) segments for $n requests)" test $((d1 - d0)) -ge $((2 * n))

# modes switch at run time: new connections take the new mode at once
mc_admin node1 mode intra >/dev/null
"$VC" restart >/dev/null 2>&1
load "$ds_url" 0.2 >/dev/null
read -r o0 n0 i0 <<<"$(kinds node1)"
n=$(load "$ds_url" 1)
read -r o1 n1 i1 <<<"$(kinds node1)"
check "mode intra: outbound and inbound pairs redirect" test $((o1 - o0)) -gt 0 -a $((i1 - i0)) -gt 0
expect_eq "mode intra: sidecar-to-sidecar pairs stay on TCP" 0 $((n1 - n0))
mc_admin node1 mode node >/dev/null
"$VC" restart >/dev/null 2>&1
load "$ds_url" 0.2 >/dev/null
read -r o0 n0 i0 <<<"$(kinds node1)"
n=$(load "$ds_url" 1)
read -r o1 n1 i1 <<<"$(kinds node1)"
check "mode node: only sidecar-to-sidecar pairs redirect" test $((n1 - n0)) -gt 0 -a $((o1 - o0)) = 0 -a $((i1 - i0)) = 0
check "an unknown mode is refused with a message" sh -c "$(mc_admin_cmd node1) mode turbo 2>&1 | grep -q 'unknown mode'"
check "a pod cannot change the mode (403)" sh -c "'$VC' exec client -- '$MESHCUT' --socket '$sock' mode off 2>&1 | grep -q 'admin'"
tap_done
