#!/usr/bin/env bash
# The first load of a map layout looks atomic to the next start. An agent
# killed during it (a crash, an OOM kill) must leave nothing a later agent
# adopts as if it were complete: a free-slot queue left empty or half full
# means no pair slot, or too few, until an uninstall. The agent's test build
# dies by SIGKILL at a named test point (agent/testhooks.h); the next agent
# must start a complete layout and pair connections.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcfirst
TEST_TMP=$(mktemp -d)
if ! agent=$(test_agent 2>"$TEST_TMP/build.log"); then
  echo "1..0 # SKIP the agent's test build failed"; sed 's/^/# /' "$TEST_TMP/build.log"; exit 1
fi
"$VC" up --topology "$ROOT/tests/topologies/race.json" >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
read -r pins cg sock < <("$VC" status --json | jq -r '.nodes[0] | "\(.bpffs) \(.cgroup) \(.agent_socket)"')
ip=$(pod_ip race)
mkdir -p "$(dirname "$sock")"
kstat() { stats_json | jq ".kinds.inbound.$1"; }

for point in first-load-loaded first-load-half-filled; do
  # the agent's first load, killed at the test point, in the node's namespace
  # and cgroup as the DaemonSet's would run
  { "$VC" exec node1 -- env MESHCUT_TEST_KILL_AT="$point" "$agent" --pin-dir "$pins" \
      --cgroup "$cg" --socket "$sock" >"$TEST_TMP/$point.log" 2>&1; } 2>/dev/null
  rc=$?
  expect_eq "$point: the agent was killed there (SIGKILL)" 137 "$rc"
  # the next start (the DaemonSet restarts it), and the pods register
  "$VC" meshcut start >"$TEST_TMP/start.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/start.log"
  st=$(mc_admin node1 status --json)
  diag "$point: $(grep -i 'first load' "$("$VC" status --json | jq -r .state_dir)/logs/node1.agent.log" 2>/dev/null | tail -1)"
  expect_eq "$point: the next agent found no complete layout and loaded afresh" false "$(jq .adopted <<<"$st")"
  m0=$(kstat msgs); n0=$(kstat no_slot)
  out=$("$VC" exec race -- "$BUILD/tests/sockcompat" --scenario echo --addr "$ip" --app-reads 2>&1)
  m1=$(kstat msgs); n1=$(kstat no_slot)
  check "$point: a connection is paired and its bytes arrive ($out)" jq -e '.intact == true' <<<"$out"
  check "$point: ... redirected ($((m1 - m0)) messages)" test $((m1 - m0)) -gt 0
  expect_eq "$point: ... and no connection was refused a pair slot" 0 $((n1 - n0))
  "$VC" meshcut stop >/dev/null 2>&1 # uninstall: the next round's first load is a first load again
  check "$point: the uninstall removed every pin" test ! -e "$pins"
done
tap_done
