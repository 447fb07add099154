#!/usr/bin/env bash
# A direction only ever moves towards TCP. sk_msg decides a direction, then
# records the decision; between the two, another CPU may move the pair to TCP
# (the agent's drain on a mode change, the other end leaving on SO_RCVLOWAT). A
# plain store there put TCP back to REDIRECT: the agent, which had flipped the
# pair once, then deleted it while its sender still redirected (bytes freed
# with the reader's queue, or EPIPE), or the pair stayed half-redirected for
# good. This test runs an agent built with that window stretched
# (-DMC_TEST_WIDEN_WINDOW), flips the mode every millisecond while many short
# connections stream checked bytes both ways and their readers toggle
# SO_RCVLOWAT, and asserts: no byte lost, duplicated or reordered, no send
# error, and no pair left half-redirected.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcrace
TEST_TMP=$(mktemp -d)
SECONDS_RUN=${RACE_SECONDS:-16}

if ! agent=$(test_agent 2>"$TEST_TMP/build.log"); then
  echo "1..0 # SKIP the agent's test build failed"; sed 's/^/# /' "$TEST_TMP/build.log"; exit 1
fi
"$VC" up --topology "$ROOT/tests/topologies/race.json" --meshcut >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
"$VC" meshcut restart-agents --agent "$agent" >"$TEST_TMP/restart.log" 2>&1 ||
  { not_ok "the widened-window agent took over"; sed 's/^/# /' "$TEST_TMP/restart.log"; tap_done; exit 1; }
sock=$(node_sock node1)
node_ns=$("$VC" status --json | jq -r '.nodes[0].netns')
pins=$("$VC" status --json | jq -r '.nodes[0].bpffs')
layout=$(sed -n 's/^#define MC_LAYOUT_VERSION \([0-9]*\)$/\1/p' "$ROOT/bpf/control.h")
ip=$(pod_ip race)
# admin calls come from the agent's (the node's) network namespace
in_node() { nsenter --net="/run/netns/$node_ns" "$@"; }
mc() { in_node "$MESHCUT" --socket "$sock" "$@"; }
kstat() { mc stats --json | jq ".kinds.inbound.$1"; }

msgs0=$(kstat msgs); mode0=$(kstat to_tcp.mode); lowat0=$(kstat to_tcp.rcvlowat)
# the mode flips every millisecond for the first half of the run; in the second
# half it stays full and only the receivers' SO_RCVLOWAT moves pairs to TCP
# (nothing then moves a wrongly restored REDIRECT back)
in_node "$BUILD/tests/modeflip" --socket "$sock" --interval-us 1000 \
  --seconds $((SECONDS_RUN / 2)) >"$TEST_TMP/flip.json" 2>&1 &
flipper=$!
# short writes with pauses (readers catch up between them, so the drain finds
# backlogs at 0 and deletes), a toggle on every connection
mkfifo "$TEST_TMP/release"
"$VC" exec race -- "$BUILD/tests/dirrace" --addr "$ip" --workers 2 \
  --seconds "$SECONDS_RUN" --max-bytes 65536 --max-write 4096 --pause-us 2000 \
  --lowat-every 1 --lowat-max-us 10000 --stuck-after 10 --hold \
  <"$TEST_TMP/release" >"$TEST_TMP/dirrace.out" 2>"$TEST_TMP/dirrace.err" &
dr_pid=$!
exec 7>"$TEST_TMP/release" # dirrace holds its last connections until this closes
wait_for $(((SECONDS_RUN + 60) * 10)) grep -q holding "$TEST_TMP/dirrace.out"
holding=$(grep holding "$TEST_TMP/dirrace.out")
wait "$flipper"; flip_rc=$?
diag "mode flips: $(cat "$TEST_TMP/flip.json")"
check "the mode flipped every millisecond through the agent's API" \
  jq -e '.flips > 100 and .failed == 0' "$TEST_TMP/flip.json"
expect_eq "the flipper ended in mode full" full "$(mc status --json | jq -r .mode)"
# the held pairs are still open (their streams done, no half-close), the drain settled
check "dirrace holds its last connections open ($holding)" jq -e '.holding > 0' <<<"${holding:-null}"
wait_for 100 sh -c "[ \"\$(nsenter --net=/run/netns/$node_ns '$MESHCUT' --socket '$sock' status --json | jq .drain.waiting)\" = 0 ]"
"$BUILD/tests/pairdump" "$pins/v$layout/mc_pairs" >"$TEST_TMP/pairs.json"
diag "pair table: $(cat "$TEST_TMP/pairs.json")"
check "no pair is left half-redirected (one direction on TCP, the other not)" \
  jq -e '.half_redirected == 0' "$TEST_TMP/pairs.json"
after_flip=$(mc status --json | jq .drain.redirect_after_flip)
expect_eq "the drain never found a direction back off TCP after it had flipped a pair" 0 "$after_flip"
exec 7>&- # release the held connections
wait "$dr_pid"
result=$(grep -v holding "$TEST_TMP/dirrace.out")
diag "dirrace: $result" "$(head -c 2000 "$TEST_TMP/dirrace.err" | sed 's/^/dirrace: /')"
check "connections streamed ($(jq -c '{connections, bytes, lowat_toggles}' <<<"${result:-null}"))" \
  jq -e '.connections > 20 and .bytes > 0 and .setup_failed == 0' <<<"${result:-null}"
check "no stream lost, duplicated or reordered a byte (offsets and SHA-256)" \
  jq -e '.bad_streams == 0' <<<"${result:-null}"
check "no send failed (EPIPE: a redirect into a socket the agent had deleted)" \
  jq -e '.send_errors == 0 and .epipe == 0' <<<"${result:-null}"
check "no reader failed or waited for bytes that never came" \
  jq -e '.recv_errors == 0 and .stuck == 0' <<<"${result:-null}"
msgs1=$(kstat msgs); mode1=$(kstat to_tcp.mode); lowat1=$(kstat to_tcp.rcvlowat)
check "the streams were redirected ($((msgs1 - msgs0)) messages)" test $((msgs1 - msgs0)) -gt 100
check "mode flips moved live pairs to TCP ($((mode1 - mode0)))" test $((mode1 - mode0)) -gt 0
check "SO_RCVLOWAT moved live pairs to TCP ($((lowat1 - lowat0)))" test $((lowat1 - lowat0)) -gt 0
tap_done
