#!/usr/bin/env bash
# A mode set at runtime (`meshcut mode`) survives agent restarts, unless the
# agent's --mode flag changes. A DaemonSet passes the chart's agent.mode at
# every start, so "the flag wins" would undo an operator's `meshcut mode off`
# at the next rolling update or crash; "the pinned mode wins" would ignore a
# changed chart value. The rule (agent/shortcut/datapath.c start_modes): the
# flag wins when it differs from the flag the node last started with,
# otherwise the runtime mode stays. Proved on status and on real traffic: a
# connection is redirected only in a mode that redirects inbound.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcmode
TEST_TMP=$(mktemp -d)
"$VC" up --topology "$ROOT/tests/topologies/race.json" >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
ip=$(pod_ip race)
log=$("$VC" status --json | jq -r .state_dir)/logs/node1.agent.log
mode_now() { mc_admin node1 status --json | jq -r .mode; }
# one connection through the pod's sidecar to its app: REDIRECTED yes|no
traffic() { inbound_traffic "$1" "$2" race; }
restart() { # ARGS for restart-agents
  "$VC" meshcut restart-agents "$@" >"$TEST_TMP/restart.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/restart.log"
}

"$VC" meshcut start --mode full >"$TEST_TMP/start.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/start.log"
expect_eq "started with --mode full" full "$(mode_now)"
traffic "full" yes

mc_admin node1 mode off >/dev/null
restart --mode full
expect_eq "runtime 'mode off', restart (SIGTERM) with the same --mode full: off stays" off "$(mode_now)"
check "... and the agent says why it kept it" grep -q 'keeping mode off, set at runtime' "$log"
traffic "kept off" no

restart --mode intra
expect_eq "restart with a changed flag (--mode intra): the flag wins" intra "$(mode_now)"
traffic "intra from the new flag" yes

restart
expect_eq "restart without --mode: the pinned mode (intra) stays" intra "$(mode_now)"

mc_admin node1 mode off >/dev/null
restart --signal KILL --mode intra
expect_eq "runtime 'mode off', crash (SIGKILL) and restart with the same --mode intra: off stays" off "$(mode_now)"
traffic "off after a crash" no

restart --mode full
expect_eq "then the chart's value changes to full: the flag wins" full "$(mode_now)"
traffic "full again" yes
"$VC" meshcut stop >/dev/null 2>&1
tap_done
