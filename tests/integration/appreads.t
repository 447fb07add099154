#!/usr/bin/env bash
# meshcut.io/app-reads: recv, the pod owner's promise that the app reads its
# sockets with recv() only, never splice(): a direction towards the app (pairs
# 1 and 6) then redirects from its first byte instead of starting on TCP.
# tests/probes/sockcompat owns both ends of an inbound-shaped connection (the
# sidecar, uid 1337 from 127.0.0.6 -> the app on the pod IP: pair 5<->6) and
# reads from TCP_INFO what each end sent over TCP, so a request that went over
# TCP shows as data segments, a redirected one as none. Pod "recv" promised,
# pod "any" did not (tests/topologies/appreads.json).
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcapr
TEST_TMP=$(mktemp -d)
"$VC" up --topology "$ROOT/tests/topologies/appreads.json" --meshcut >/dev/null 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; exit 1; }
ROUNDS=10
field() { jq -r ".$2" <<<"$1"; }
sc() { # POD SCENARIO [ARGS...] -> JSON
  local p=$1 s=$2; shift 2
  timeout 20 "$VC" exec "$p" -- "$BUILD/tests/sockcompat" --scenario "$s" --addr "$(pod_ip "$p")" "$@" ||
    echo '{"error":"timed out"}'
}
# ROUNDS one-request connections in POD: "intact to_app_segs to_app_bytes
# from_app_segs" summed over the rounds (intact: how many were), in R
# (not read from a process substitution: that would run the rounds beside
# whatever comes next)
rounds() { # POD [ARGS...]
  local p=$1 i j intact=0 ts=0 tb=0 fs=0; shift
  for i in $(seq 1 $ROUNDS); do
    j=$(sc "$p" one_request "$@")
    [ "$i" = 1 ] && diag "$p $*: $j" >&2
    [ "$(field "$j" intact)" = true ] && intact=$((intact + 1))
    ts=$((ts + $(jq '.to_app_tcp_segs // 999' <<<"$j")))
    tb=$((tb + $(jq '.to_app_tcp_bytes // 999999' <<<"$j")))
    fs=$((fs + $(jq '.from_app_tcp_segs // 999' <<<"$j")))
  done
  R="$intact $ts $tb $fs"
}
inb() { stats_json | jq .redirected.inbound; }
app_reads_of() { mc_admin node1 pods --json | jq -r --arg p "default/$1" '.[] | select(.pod == $p) | .app_reads'; }

expect_eq "meshcut pods shows the promise of pod recv" recv "$(app_reads_of recv)"
expect_eq "... and pod any, without the annotation, as any" any "$(app_reads_of any)"

# control: plain TCP in the same pod (uid 0 from 127.0.0.7: neither Istio nor
# meshcut touches it) shows what the counters count
rounds any --src 127.0.0.7 --uid 0; read -r ok ts tb fs <<<"$R"
expect_eq "plain TCP: $ROUNDS one-request connections, every byte" $ROUNDS "$ok"
expect_eq "plain TCP: ... each request's 300 bytes crossed TCP" $((ROUNDS * 300)) "$tb"
check "plain TCP: ... in data segments both ways ($ts requests, $fs answers)" test "$ts" -ge $ROUNDS -a "$fs" -ge $ROUNDS

# without the promise (today's behaviour): towards the app, TCP until the app
# has read with recv(); a connection that carries one request never gets there
i0=$(inb)
rounds any; read -r ok ts tb fs <<<"$R"
i1=$(inb)
expect_eq "pod any: $ROUNDS one-request connections through meshcut, every byte" $ROUNDS "$ok"
expect_eq "pod any: ... each request crossed TCP whole (300 bytes towards the app)" $((ROUNDS * 300)) "$tb"
check "pod any: ... in $ts data segments" test "$ts" -ge $ROUNDS
expect_eq "pod any: ... each answer (towards the sidecar) redirected from its first byte: no data segment" 0 "$fs"
check "pod any: ... so the answers were redirected (redirected.inbound +$((i1 - i0)))" test $((i1 - i0)) -ge $ROUNDS

# with the promise: towards the app from the first byte as well
i0=$(inb)
rounds recv; read -r ok ts tb fs <<<"$R"
i1=$(inb)
expect_eq "pod recv: $ROUNDS one-request connections through meshcut, every byte" $ROUNDS "$ok"
expect_eq "pod recv: ... no request byte crossed TCP (data segments/bytes towards the app)" 0/0 "$ts/$tb"
expect_eq "pod recv: ... nor an answer byte" 0 "$fs"
check "pod recv: ... both ways redirected (redirected.inbound +$((i1 - i0)) for $ROUNDS connections)" \
  test $((i1 - i0)) -ge $((2 * ROUNDS))
# a longer exchange on a connection of that pod: 1 MiB each way, half-closes
E=$(sc recv echo)
diag "recv echo: $E"
expect_eq "pod recv: 1 MiB echoed with half-closes, intact" true/1048576 "$(field "$E" intact)/$(field "$E" client_got)"

# The promise is per pod and taken at pairing: a registration refreshed
# without it puts pod recv back on today's behaviour, and with it again forward.
SOCK=$(node_sock node1)
init() { # POD [ARGS...]: meshcut-init again in POD's network namespace (a refresh)
  local p=$1; shift
  vcx "$p" -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name "$p" --pod-namespace default \
    --pod-ips "$(pod_ip "$p")" --exclude-inbound-ports 15090,15021,15020 --required "$@" >"$TEST_TMP/init.log" 2>&1
}
check "pod recv registered again without the annotation" init recv
diag "meshcut-init: $(tr '\n' ' ' <"$TEST_TMP/init.log")"
expect_eq "... meshcut pods says any" any "$(app_reads_of recv)"
rounds recv; read -r ok ts tb fs <<<"$R"
expect_eq "... its requests cross TCP again ($ROUNDS connections, every byte)" $ROUNDS/$((ROUNDS * 300)) "$ok/$tb"
check "pod recv registered again with app-reads recv" init recv --app-reads recv
grep -q 'app reads recv' "$TEST_TMP/init.log" || diag "meshcut-init: $(tr '\n' ' ' <"$TEST_TMP/init.log")"
expect_eq "... meshcut pods says recv" recv "$(app_reads_of recv)"
rounds recv; read -r ok ts tb fs <<<"$R"
expect_eq "... and its requests are redirected from the first byte again" $ROUNDS/0/0 "$ok/$ts/$tb"

# an unknown value is refused as app-sockets' is: meshcut-init does not
# register (the whole pod on the normal path), the registration is unchanged
init recv --app-reads RECV; rc=$?
expect_eq "app-reads RECV: meshcut-init refuses it (--required: exit 2)" 2 "$rc"
check "... saying why" grep -q 'app reads "RECV": must be recv or any (annotation meshcut.io/app-reads); not registering' \
  "$TEST_TMP/init.log"
expect_eq "... and the pod's registration is unchanged" recv "$(app_reads_of recv)"

# splice(): an app that reads with splice() only stays on TCP without the
# promise and gets every byte; in a pod that promised recv(), the same app
# breaks the promise and splice() never sees the redirected bytes: the
# documented price (docs/semantics.md)
S=$(sc any splice_app)
diag "any splice_app: $S"
expect_eq "pod any: an app that reads with splice() gets every byte" true/100000 \
  "$(field "$S" intact)/$(field "$S" server_got)"
S=$(sc recv splice_app)
diag "recv splice_app: $S"
check "pod recv: the same app breaks the promise: splice() does not see the redirected bytes (got $(field "$S" server_got) of 100000; documented)" \
  test "$(jq '.server_got // 100000' <<<"$S")" -lt 100000
tap_done
