#!/usr/bin/env bash
# Another sockmap user on the same sockets (tests/probes/othertool): a socket
# takes the sk_msg program of one map only, whoever inserts it first; the other
# insert gets EBUSY. Both orders: the other tool below meshcut (on a pod's
# cgroup, its sockops runs first) and above it (on the cluster's cgroup, it
# runs after meshcut's). Requests keep working, the other tool keeps working,
# meshcut falls back to TCP and counts it, and meshcut's uninstall leaves the
# other tool attached.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mccox
TEST_TMP=$(mktemp -d)
"$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
url="http://$(svc_addr ds)/"
ds_cg=$("$VC" status --json | jq -r '.pods[] | select(.name == "ds") | .cgroup')
root_cg=$("$VC" status --json | jq -r '.cgroup_root')
count() { stats_json | jq "$1"; }
load() { "$VC" exec client -- "$BUILD/tests/meshload" --url "$url" -c 2 -d "$1" --warmup 0.2 --json; }
other() { # CGROUP SECONDS -> starts othertool, output in $TEST_TMP/other.json
  "$BUILD/tests/othertool" --cgroup "$1" --seconds "$2" >"$TEST_TMP/other.json" 2>&1 &
  OTHER=$!
  wait_for 50 grep -q attached "$TEST_TMP/other.json"
}
other_stat() { tail -1 "$TEST_TMP/other.json" | jq ".$1"; }

# --- the other tool below meshcut: it owns the pod's sockets
"$VC" restart >/dev/null 2>&1   # fresh connections, made while both are attached
other "$ds_cg" 5
f0=$(count '[.kinds[].insert_fail] | add'); i0=$(count .redirected.inbound)
m=$(load 2)
wait "$OTHER"
f1=$(count '[.kinds[].insert_fail] | add'); i1=$(count .redirected.inbound)
expect_eq "other tool below: requests all succeed" 0 "$(jq .errors <<<"$m")"
check "other tool below: it inserted the pod's sockets ($(other_stat inserted)) and sees their messages ($(other_stat msgs))" \
  test "$(other_stat inserted)" -gt 0 -a "$(other_stat msgs)" -gt 0
check "other tool below: meshcut's inserts were refused and counted ($((f1 - f0)))" test $((f1 - f0)) -gt 0
expect_eq "other tool below: meshcut redirected nothing into the pod's sockets" 0 $((i1 - i0))

# --- the other tool above meshcut: meshcut owns the sockets
"$VC" restart >/dev/null 2>&1
other "$root_cg" 12
i0=$(count .redirected.inbound)
m=$(load 2)
i1=$(count .redirected.inbound)
expect_eq "other tool above: requests all succeed" 0 "$(jq .errors <<<"$m")"
check "other tool above: meshcut redirects ($((i1 - i0)) inbound messages)" test $((i1 - i0)) -gt 100
# meshcut's uninstall removes only its own programs (counted under this
# cluster's cgroup root: other meshcut instances on the machine are not ours)
mine_before=$(bpftool cgroup tree "$root_cg" 2>/dev/null | grep -c 'mc_sockops\|mc_fin_gate\|mc_setsockopt' || true)
check "before the uninstall meshcut's cgroup programs are attached under the cluster's root ($mine_before)" test "$mine_before" -gt 0
"$VC" meshcut stop >/dev/null 2>&1
attached=$(bpftool cgroup show "$root_cg" 2>/dev/null | grep -c other_sockops || true)
mine=$(bpftool cgroup tree "$root_cg" 2>/dev/null | grep -c 'mc_sockops\|mc_fin_gate\|mc_setsockopt' || true)
expect_eq "after meshcut's uninstall the other tool's sockops is still attached" 1 "$attached"
expect_eq "after meshcut's uninstall none of meshcut's cgroup programs is attached" 0 "$mine"
m=$(load 1)
expect_eq "requests keep working after the uninstall" 0 "$(jq .errors <<<"$m")"
wait "$OTHER"
check "other tool above: some of its inserts were refused, it kept running ($(tail -1 "$TEST_TMP/other.json"))" \
  test "$(other_stat ebusy)" -gt 0
tap_done
