#!/usr/bin/env bash
# The virtual cluster itself (issue: foundation): requests flow through real
# sidecars exactly as in Istio's six-socket table, cross-node traffic takes the
# VXLAN overlay, nodes carry kube-proxy's INVALID drop (their conntrack on),
# Istio's exclusions hold, and down/failed up leave nothing.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcvct
TEST_TMP=$(mktemp -d)

# everything a cluster could leave behind, as one comparable text
snapshot() {
  {
    ip netns list | awk '{print $1}' | grep '^mcvct-' || true
    ls /sys/fs/bpf | grep 'meshcut-vc-mcvct' || true
    find "$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)" -maxdepth 1 -name 'meshcut-vc-mcvct*' || true
    ls /run/meshcut-vc 2>/dev/null | grep mcvct || true
    pgrep -f "meshcut-vc/mcvct" || true
    ip -o link | awk '{print $2}'
  } | sort
}
before=$(snapshot)

# ESTAB sockets of a pod as "local peer" lines
socks() { nsenter --net="/run/netns/$(pod_netns "$1")" ss -Htn state established | awk '{print $3, $4}'; }

# Verify Istio's six sockets for one slow request CLIENT -> SERVICE served by POD:
#   1 app A  podA:r1 -> VIP            2 sidecar A  127.0.0.1:15001 <- podA:r1
#   3 side A podA:r2 -> podB:port      4 sidecar B  podB:15006 <- podA:r2
#   5 side B 127.0.0.6:r3 -> podB:port 6 app B      podB:port <- 127.0.0.6:r3
six_sockets() { # CLIENT-POD SERVICE SERVER-POD
  local a=$1 svc=$2 b=$3 ipa ipb vip port r1 r2 r3 sa sb pid
  ipa=$(pod_ip "$a"); ipb=$(pod_ip "$b"); vip=$(svc_addr "$svc"); port=${vip##*:}
  vcx "$a" -- curl -s -o /dev/null --limit-rate 2k "http://$vip/?size=400000" &
  pid=$!
  sleep 1.5
  sa=$(socks "$a"); sb=$(socks "$b")
  kill "$pid" 2>/dev/null; pkill -f "limit-rate 2k http://$vip" 2>/dev/null || true; wait "$pid" 2>/dev/null
  r1=$(awk -v l="$ipa" -v p="$vip" 'index($1, l ":") == 1 && $2 == p { sub(/.*:/, "", $1); print $1; exit }' <<<"$sa")
  [ -n "$r1" ] || { diag "socket 1 ($ipa:* -> $vip) missing in $a:" "$sa"; return 1; }
  grep -qx "127.0.0.1:15001 $ipa:$r1" <<<"$sa" || { diag "socket 2 (127.0.0.1:15001 <- $ipa:$r1) missing in $a:" "$sa"; return 1; }
  for r2 in $(awk -v l="$ipa" -v p="$ipb:$port" 'index($1, l ":") == 1 && $2 == p { sub(/.*:/, "", $1); print $1 }' <<<"$sa"); do
    grep -qx "$ipb:15006 $ipa:$r2" <<<"$sb" && break
    r2=""
  done
  [ -n "$r2" ] || { diag "sockets 3/4 ($ipa:* -> $ipb:$port seen as $ipb:15006) missing:" "$sa" "--" "$sb"; return 1; }
  r3=$(awk -v p="$ipb:$port" 'index($1, "127.0.0.6:") == 1 && $2 == p { sub(/.*:/, "", $1); print $1; exit }' <<<"$sb")
  [ -n "$r3" ] || { diag "socket 5 (127.0.0.6:* -> $ipb:$port) missing in $b:" "$sb"; return 1; }
  grep -qx "$ipb:$port 127.0.0.6:$r3" <<<"$sb" || { diag "socket 6 missing in $b"; return 1; }
}

expected_trace='productpage(details,reviews-v1)'

for tls in plain tls; do
  flags=(); [ $tls = tls ] && flags=(--tls)
  if ! "$VC" up "${flags[@]}" >"$TEST_TMP/up.log" 2>&1; then
    not_ok "$tls: vcluster up"; cat "$TEST_TMP/up.log" | sed 's/^/# /'; break
  fi
  ok "$tls: vcluster up (bookinfo, two nodes)"
  st=$("$VC" status --json)
  check "$tls: status --json has nodes, pods (name,node,ip,meshed) and services (name,vip,port)" \
    jq -e '(.nodes | length == 2) and (.nodes[0].name == "node1") and
           ([.pods[] | has("name") and has("node") and has("ip") and has("meshed")] | all) and
           ([.services[] | has("name") and has("vip") and has("port")] | all) and
           ([.pods[] | select(.name == "client")] | length == 1)' <<<"$st"
  hdr=$(vcx client -- curl -s -D- -o "$TEST_TMP/body" "http://$(svc_addr productpage)/")
  code=$(head -1 <<<"$hdr" | awk '{print $2}')
  trace=$(grep -i '^x-trace:' <<<"$hdr" | tr -d '\r' | awk '{print $2}')
  expect_eq "$tls: client -> productpage VIP answers 200" 200 "$code"
  expect_eq "$tls: the request went productpage -> details, reviews (round robin)" "$expected_trace" "$trace"
  expect_eq "$tls: body has productpage's configured size" 1024 "$(stat -c %s "$TEST_TMP/body")"
  check "$tls: same-node call (client -> productpage) has Istio's six sockets" six_sockets client productpage productpage
  check "$tls: cross-node call (client -> details on node2) has Istio's six sockets" six_sockets client details details

  # cross-node bytes cross flannel.1 and the underlay
  n1=$("$VC" status --json | jq -r '.nodes[0].netns')
  rx() { nsenter --net="/run/netns/$n1" cat "/sys/class/net/$1/statistics/rx_bytes" 2>/dev/null ||
         ip -n "$n1" -s -j link show "$1" | jq '.[0].stats64.rx.bytes'; }
  f0=$(ip -n "$n1" -s -j link show flannel.1 | jq '.[0].stats64.rx.bytes')
  u0=$(ip -n "$n1" -s -j link show ul0 | jq '.[0].stats64.rx.bytes')
  got=$(vcx client -- curl -s -o /dev/null -w '%{size_download}' "http://$(svc_addr details)/?size=2000000")
  f1=$(ip -n "$n1" -s -j link show flannel.1 | jq '.[0].stats64.rx.bytes')
  u1=$(ip -n "$n1" -s -j link show ul0 | jq '.[0].stats64.rx.bytes')
  expect_eq "$tls: 2 MB from details (node2) arrive" 2000000 "$got"
  check "$tls: node1's flannel.1 received at least the payload ($((f1 - f0)) bytes)" test $((f1 - f0)) -ge 2000000
  check "$tls: node1's underlay received at least the payload ($((u1 - u0)) bytes)" test $((u1 - u0)) -ge 2000000
  # kube-proxy's INVALID drop is on both nodes, and with it (a conntrack
  # user) each node's conntrack tracks the pods' connections, as on a real node
  ct=$(for ns in $(jq -r '.nodes[].netns' <<<"$st"); do
         ip netns exec "$ns" iptables -S KUBE-FORWARD 2>/dev/null | grep -c -- '--ctstate INVALID -j DROP'
         ip netns exec "$ns" cat /proc/sys/net/netfilter/nf_conntrack_count; done | tr '\n' ' ')
  check "$tls: both nodes carry kube-proxy's INVALID drop and track connections (rule, entries per node: $ct)" \
    awk -v s="$ct" 'BEGIN { n = split(s, a, " "); exit !(n == 4 && a[1] == 1 && a[2] > 0 && a[3] == 1 && a[4] > 0) }'
  "$VC" down >/dev/null 2>&1
done

# Istio's exclusions: ports 15090/15021/15020/15008 are never redirected to
# 15006, and the sidecar's own (uid 1337) traffic is never re-captured to 15001
# (this cluster is also pinned: --pin puts each node's processes on one CPU)
"$VC" up --topology "$ROOT/tests/topologies/two-hop.json" --pin >/dev/null 2>&1
front=$(pod_ip front)
cpus_of() { awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$1/status"; }
pinned_cpus=$(for f in /run/meshcut-vc/$VCLUSTER_NAME/pids/*.pid; do cpus_of "$(cat "$f")"; done | sort -u | tr '\n' ' ')
node1_cpu=$("$VC" status --json | jq -r '.nodes[] | select(.name == "node1") | .cpu')
check "--pin: every sidecar and app of node1 runs on its CPU only ($pinned_cpus)" test "$pinned_cpus" = "$node1_cpu "
check "--pin: a command run in a pod runs there too" test "$(vcx client -- sh -c 'awk "/^Cpus_allowed_list:/ { print \$2 }" /proc/self/status')" = "$node1_cpu"
nat_pkts() { # POD CHAIN -> packets through the chain's REDIRECT rule
  nsenter --net="/run/netns/$(pod_netns "$1")" iptables -t nat -L "$2" -v -x -n | awk '/REDIRECT/ { s += $1 } END { print s + 0 }'
}
for p in 15090 15021 15020 15008; do
  "$VC" exec front -- "$BUILD/tests/meshapp" --name "probe$p" --listen "0.0.0.0:$p" >/dev/null 2>&1 &
  wait_for 50 sh -c "nsenter --net=/run/netns/$(pod_netns front) ss -Htln 'sport = :$p' | grep -q LISTEN"
  in0=$(nat_pkts front ISTIO_IN_REDIRECT)
  trace=$(vcx client -- curl -s -D- -o /dev/null "http://$front:$p/" | grep -i x-trace | tr -d '\r' | awk '{print $2}')
  in1=$(nat_pkts front ISTIO_IN_REDIRECT)
  check "port $p reaches the app directly (answer from probe$p, ISTIO_IN_REDIRECT untouched)" \
    test "$trace" = "probe$p" -a "$in0" = "$in1"
  pkill -f "meshapp --name probe$p" || true
done
out0=$(nat_pkts client ISTIO_REDIRECT)
vcx client --uid 1337 -- curl -s -o /dev/null "http://$front:9080/"
out1=$(nat_pkts client ISTIO_REDIRECT)
vcx client -- curl -s -o /dev/null "http://$(svc_addr front)/"
out2=$(nat_pkts client ISTIO_REDIRECT)
check "uid 1337 traffic is not re-captured to 15001 (ISTIO_REDIRECT $out0 -> $out1)" test "$out0" = "$out1"
check "an app's traffic is captured to 15001 (ISTIO_REDIRECT $out1 -> $out2)" test $((out2 - out1)) -ge 1

"$VC" down >/dev/null 2>&1
expect_eq "down after a success leaves no netns, link, cgroup, pin dir, state or process" "$before" "$(snapshot)"

VC_FAIL_AFTER_NODES=1 "$VC" up >/dev/null 2>&1 && not_ok "a failure injected half-way makes up fail" ||
  ok "a failure injected half-way makes up fail"
expect_eq "a failed up removes what it made (no down needed)" "$before" "$(snapshot)"

# HipsterShop-shaped: HTTP/2 between the sidecars (the h2 preface on the wire
# from frontend's sidecar to currency), plaintext and mTLS, every call answered
for tls in "" --tls; do
  "$VC" up --topology "$ROOT/tests/topologies/hipstershop.json" $tls >/dev/null 2>&1
  ns=$("$VC" status --json | jq -r '.pods[] | select(.name == "frontend") | .netns')
  ip netns exec "$ns" timeout 5 tcpdump -i eth0 --immediate-mode -U -w "$TEST_TMP/h2.pcap" 'tcp dst port 7000' >/dev/null 2>&1 &
  dump=$!
  sleep 1
  hdrs=$("$VC" exec client -- curl -s -D- -o /dev/null http://10.96.1.10:8080/)
  sleep 0.3; kill -INT "$dump" 2>/dev/null; wait "$dump" 2>/dev/null
  check "hipstershop${tls:+ $tls}: the frontend answers after all ten services" \
    grep -q 'x-trace: frontend(currency,productcatalog,cart(redis-cart),recommendation(productcatalog),shipping,ad,checkout(payment,email))' <<<"$hdrs"
  if [ -z "$tls" ]; then
    check "hipstershop: sidecar to sidecar is HTTP/2 (h2c preface on the wire)" grep -aq 'PRI \* HTTP/2.0' "$TEST_TMP/h2.pcap"
  else
    check "hipstershop --tls: sidecar to sidecar is TLS (no h2c preface in clear)" sh -c "test -s '$TEST_TMP/h2.pcap' && ! grep -aq 'PRI \* HTTP/2.0' '$TEST_TMP/h2.pcap'"
  fi
  "$VC" down >/dev/null 2>&1
done

# the benchmark harness: a two-configuration smoke comparison
if VCLUSTER_NAME=mcvct "$ROOT/tests/bench/bench" --suite smoke --duration 1 --repeats 1 \
     --out "$TEST_TMP/bench" >"$TEST_TMP/bench.log" 2>&1; then
  check "bench smoke writes results.json with one valid object per point" jq -e '
    length == 2 and ([.[].config] | sort) == ["mesh", "nomesh"] and
    ([.[] | has("topology") and has("placement") and has("config") and has("tls") and
      has("concurrency") and has("repeat") and has("mean_us") and has("p50_us") and
      has("p90_us") and has("p99_us") and has("qps") and has("errors") and
      has("cpu_us_per_req") and has("tcp_segs_per_req")] | all) and
    ([.[] | .requests > 0 and .errors == 0] | all)' "$TEST_TMP/bench/results.json"
  check "bench smoke proves its configurations (mesh sends TCP data per request through sidecars)" jq -e '
    ([.[] | select(.config == "mesh") | .tcp_segs_per_req] | .[0]) >= 10' "$TEST_TMP/bench/results.json"
  check "bench writes results.md with a table row per configuration" grep -q '^| mesh |' "$TEST_TMP/bench/results.md"
else
  not_ok "bench smoke run"; sed 's/^/# /' "$TEST_TMP/bench.log" | tail -20
fi
# meshcut started while the pods run without a mesh, then the mesh restarted:
# every pod's init container registers it again, so the point is a full point
# (with --hopcost: the report ends with what one hop costs, measured)
if VCLUSTER_NAME=mcvct HOPCOST_ROUNDS=1 "$ROOT/tests/bench/bench" --configs nomesh,full --duration 1 \
     --repeats 1 --hopcost --out "$TEST_TMP/bench2" >"$TEST_TMP/bench2.log" 2>&1; then
  check "bench: a full point after a nomesh point redirects every hop (0 TCP data segments per request)" jq -e '
    [.[] | select(.config == "full") | .redirected_msgs_per_req >= 11 and .tcp_segs_per_req < 0.1] | all and length == 1' \
    "$TEST_TMP/bench2/results.json"
  check "hopcost: a round trip measured each way (redirected, tcp, pipe), free and pinned" jq -e '
    length == 6 and ([.[] | "\(.kind)/\(.placement)"] | unique | length) == 6 and ([.[].mean_us > 0] | all)' \
    "$TEST_TMP/bench2/hopcost.json"
  check "bench --hopcost: the report says what a shortcut can save here" \
    grep -q 'any shortcut saves at most .* us of CPU; meshcut saves' "$TEST_TMP/bench2/results.md"
else
  not_ok "bench nomesh,full run (exit 1 = a point did not prove its configuration)"
  sed 's/^/# /' "$TEST_TMP/bench2.log" | tail -20
fi
expect_eq "the harness removes its cluster" "$before" "$(snapshot)"
tap_done
