#!/usr/bin/env bash
# /healthz means something: it answers 200 while the agent's event loop turns
# and 503, saying what stalled, once the loop has made no progress for
# --liveness-bound seconds, while the API threads keep serving (the test
# build's stall point MESHCUT_TEST_STALL_LOOP=loop stops the loop,
# agent/testhooks.h). An agent idle on purpose (the kernel refused the
# datapath) stays live past the bound and is only not ready: no crash loop.
# Each agent runs in a network namespace, cgroup and bpffs directory of the
# test's own, and is removed (--uninstall) at the end.
. "$(dirname "$0")/lib.sh"
require_root
TEST_TMP=$(mktemp -d)
pins=/sys/fs/bpf/mclive-$$
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
cg=$cg2/mclive-$$
ns=mclive-$$
sock=$TEST_TMP/agent.sock
port=19465
agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "${agent:-}" ] && [ -d "$pins" ] && "$agent" --uninstall --pin-dir "$pins" --drain-timeout 5 >/dev/null 2>&1
  ip netns del "$ns" 2>/dev/null; rmdir "$cg" 2>/dev/null; rm -rf "$pins" "$pins-idle" "$TEST_TMP"
}
trap cleanup EXIT
if ! agent=$(test_agent 2>"$TEST_TMP/build.log"); then
  echo "1..0 # SKIP the agent's test build failed"; sed 's/^/# /' "$TEST_TMP/build.log"; exit 1
fi
mkdir -p "$cg"
ip netns add "$ns"
ip -n "$ns" link set lo up
inns() { nsenter --net="/run/netns/$ns" -- "$@"; }
# GET PATH: "CODE BODY" (the body's first line)
probe() {
  local code
  code=$(inns curl -s -m 5 -o "$TEST_TMP/body" -w '%{http_code}' "http://127.0.0.1:$port$1")
  echo "$code $(head -1 "$TEST_TMP/body" 2>/dev/null)"
}
healthz_is() { [ "$(probe /healthz | cut -d' ' -f1)" = "$1" ]; }
healthz_not_200() { ! healthz_is 200; }
metrics_served() { inns curl -sf -m 5 "http://127.0.0.1:$port/metrics" | grep -q '^meshcut_'; }
# start_agent LOG STALL-POINT ARGS...: the test build in the test's namespace;
# succeeds once /healthz answers 200
start_agent() {
  local log=$1 stall=$2; shift 2
  rm -f "$sock"
  # nsenter and env exec: $! is the agent itself (a function would be a subshell)
  nsenter --net="/run/netns/$ns" -- env MESHCUT_TEST_STALL_LOOP="$stall" "$agent" "$@" \
    --pin-dir "$pins" --cgroup "$cg" --socket "$sock" --http 127.0.0.1:$port \
    >"$TEST_TMP/$log" 2>&1 &
  agent_pid=$!
  wait_for 100 test -S "$sock" && wait_for 50 healthz_is 200
}
stop_agent() { # LABEL
  kill -TERM "$agent_pid"; wait "$agent_pid"; local rc=$?; agent_pid=
  expect_eq "$1: SIGTERM ends it cleanly" 0 "$rc"
}
# the bound is a parameter: scaled on a slow machine like any wait
bound=$((2 * MC_SLOW))

# bad values: a clear error and exit 2, before anything is loaded
for bad in 0 abc 1.5 86401 ""; do
  err=$("$agent" --liveness-bound "$bad" 2>&1); rc=$?
  check "--liveness-bound '$bad': exit 2 ($err)" \
    test "$rc" = 2 -a -n "$(grep -F -- '--liveness-bound' <<<"$err" | grep -F '1..86400')"
done
check "meshcut-agent --help lists --liveness-bound" sh -c "'$agent' --help | grep -q -- '--liveness-bound S'"

# 1. a loop that turns: live well past the bound
check "turning loop: the agent came up, /healthz 200" start_agent turning.log "" --liveness-bound "$bound"
expect_eq "turning loop: /readyz 200" "200 ready" "$(probe /readyz)"
sleep $((bound * 2 + 1))
expect_eq "turning loop: /healthz still 200 after twice the bound (${bound} s)" "200 ok" "$(probe /healthz)"
stop_agent "turning loop"

# 2. a stalled loop: 200 at first, 503 once the bound passed, and says why;
#    the API threads keep serving everything else
mport=$((port + 1))
check "stalled loop: the agent came up, /healthz 200 before the bound" \
  start_agent stalled.log loop --liveness-bound "$bound" --metrics "[::1]:$mport"
wait_for $(((bound + 10) * 10)) healthz_not_200
h=$(probe /healthz)
diag "stalled loop: /healthz answers: $h"
check "stalled loop: /healthz 503 after the bound" test "${h%% *}" = 503
check "... saying the event loop stalled, for how long, and the bound ($h)" \
  grep -Eq "^503 event loop stalled for [0-9]+ s \\(bound $bound s\\)\$" <<<"$h"
expect_eq "... while /readyz still answers (the API threads serve)" "200 ready" "$(probe /readyz)"
check "... and /metrics too" metrics_served
# the metrics listener (--metrics, IPv6 in brackets) serves /metrics and
# nothing else: what a scraper does there never touches the probes
check "--metrics [::1]:PORT: /metrics served over IPv6" \
  sh -c "nsenter --net=/run/netns/$ns -- curl -sf -m 5 'http://[::1]:$mport/metrics' | grep -q '^meshcut_'"
expect_eq "... and no /healthz there (the probes have their own listener)" 404 \
  "$(inns curl -s -m 5 -o /dev/null -w '%{http_code}' "http://[::1]:$mport/healthz")"
stop_agent "stalled loop"

# 3. an agent idle on purpose (no capability at all: every bpf() call fails,
#    as on a kernel meshcut cannot run on) stays live past the bound, not ready
#    (a pin directory of its own, as on a node meshcut never ran on)
rm -f "$sock"
nsenter --net="/run/netns/$ns" -- setpriv --inh-caps=-all --bounding-set=-all -- env MESHCUT_TEST_STALL_LOOP=loop "$agent" \
  --pin-dir "$pins-idle" --cgroup "$cg" --socket "$sock" --http 127.0.0.1:$port \
  --metrics "::1:$mport" --liveness-bound 1 >"$TEST_TMP/idle.log" 2>&1 &
agent_pid=$!
wait_for 100 test -S "$sock"
check "idle agent (unsupported): it stays up" kill -0 "$agent_pid"
grep -m1 "cannot run on this node" "$TEST_TMP/idle.log" | sed 's/^/# /'
check "... and idles on purpose" grep -q "cannot run on this node: idling" "$TEST_TMP/idle.log"
sleep "$(slow 3)"
h=$(probe /healthz)
check "... /healthz 200 three times past its 1 s bound: live, no crash loop ($h)" test "${h%% *}" = 200
r=$(probe /readyz)
check "... /readyz 503, with the reason ($r)" grep -q '^503 unsupported: ' <<<"$r"
check "... its metrics listener (--metrics ::1:PORT, IPv6 without brackets) says meshcut_supported 0" \
  sh -c "nsenter --net=/run/netns/$ns -- curl -sf -m 5 'http://[::1]:$mport/metrics' | grep -qx 'meshcut_supported 0'"
stop_agent "idle agent"
check "nothing pinned by the idle agent" sh -c "! find '$pins-idle' -type f 2>/dev/null | grep -q ."
tap_done
