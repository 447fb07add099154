#!/usr/bin/env bash
# Byte-stream integrity through the whole sidecar chain with the socket
# shortcut: SHA-256/offset-checked streams both ways, 1 B to 4 MiB messages,
# 1 GiB in all, one slow reader, while modes flip, demotions are forced and the
# pair table is full; a stalled reader's memory stays bounded; and the socket
# semantics that differ from TCP are exactly the documented ones.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcint
TEST_TMP=$(mktemp -d)
# a small pair table, so this test can fill it
VC_AGENT_ARGS="--max-pairs 96" "$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut \
  >"$TEST_TMP/up.log" 2>&1 || { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
sock=$(node_sock node1)
mc() { mc_admin node1 "$@"; }
stream=$(svc_addr stream)
reason() { stats_json | jq "[.kinds[].to_tcp.$1] | add"; }

# one verified stream; its JSON result goes to FILE
run_stream() { # FILE meshstream-args...
  local f=$1; shift
  vcx client -- "$BUILD/tests/meshstream" --connect "$stream" --json --timeout 300 "$@" >"$f" 2>&1
}
stream_ok() { jq -e '.ok == true' "$1" >/dev/null 2>&1; }

# --- 1 GiB through the chain while the shortcut is shaken
pids=()
for i in 1 2 3; do
  run_stream "$TEST_TMP/echo$i.json" --mode echo --bytes 160M --min-msg 1 --max-msg 4M --seed $i &
  pids+=($!)
done
run_stream "$TEST_TMP/slow.json" --mode echo --bytes 16M --min-msg 1 --max-msg 4M --seed 9 \
  --slow-reader-us 2000 --read-size 16K &
pids+=($!)
run_stream "$TEST_TMP/sink.json" --mode sink --bytes 160M --min-msg 1 --max-msg 4M --seed 5 &
pids+=($!)
run_stream "$TEST_TMP/source.json" --mode source --bytes 160M --min-msg 1 --max-msg 4M --seed 6 &
pids+=($!)
# a paired connection that is surely live while the modes flip (round trips
# never build a backlog, so only a mode change can move it to TCP)
run_stream "$TEST_TMP/rr.json" --mode rr --count 20000 --size 512 &
pids+=($!)
m0=$(reason mode); b0=$(reason backlog)
# chaos while they run: modes flip, the backlog limit drops (forced demotions)
for round in 1 2 3 4 5 6; do
  mc mode intra >/dev/null; sleep 0.2
  mc backlog-limit 65536 >/dev/null; sleep 0.2
  mc mode off >/dev/null; sleep 0.2
  mc mode full >/dev/null; mc backlog-limit 4194304 >/dev/null; sleep 0.3
  # new streams start in every mode, so some are paired and some are not.
  # They half-close only once every byte came back: a FIN that reaches the
  # client's HAProxy sidecar with megabytes still queued (a pair that left
  # the shortcut for the backlog limit, then plain TCP) can make HAProxy 2.6
  # stop reading and forward the end of the stream early, about 1 stream in
  # 40 here. Traced: the socket was out of the SOCKHASH, every read full,
  # then an EPOLLOUT-only event and HAProxy's shutdown() upstream with bytes
  # queued (its sticky POLL_HUP from EPOLLRDHUP, haproxy/haproxy#169); 0 in
  # 160 with --fin-after-echo. The FIN gate has its own tests (semantics.t).
  run_stream "$TEST_TMP/late$round.json" --mode echo --fin-after-echo --bytes 8M --min-msg 1 --max-msg 1M --seed $((20 + round)) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
total=0
for f in "$TEST_TMP"/echo*.json "$TEST_TMP"/slow.json "$TEST_TMP"/sink.json "$TEST_TMP"/source.json "$TEST_TMP"/rr.json "$TEST_TMP"/late*.json; do
  n=$(basename "$f" .json)
  if stream_ok "$f"; then
    ok "stream $n: every byte arrived once, in order ($(jq -c '{bytes_sent, bytes_received, eagain}' "$f"))"
  else
    not_ok "stream $n: $(head -c 300 "$f")"
  fi
  total=$((total + $(jq '.bytes_sent + .bytes_received' "$f" 2>/dev/null || echo 0)))
done
check "at least 1 GiB crossed the chain ($((total >> 20)) MiB)" test $total -ge $((1 << 30))
m1=$(reason mode); b1=$(reason backlog)
check "mode flips moved live pairs back to TCP ($((m1 - m0)) pairs)" test $((m1 - m0)) -gt 0
check "the low backlog limit forced demotions ($((b1 - b0)) pairs)" test $((b1 - b0)) -gt 0
check "the slow reader's stream was really slow (>= 1 s)" jq -e '.seconds >= 1' "$TEST_TMP/slow.json"
wait_for 50 sh -c "[ \"\$('$MESHCUT' --socket '$sock' status --json | jq .drain.waiting)\" = 0 ]"
# every stream read to its last byte: a pair the drain moved to TCP is
# deleted once its reader caught up, never dropped at close with bytes it
# counted unread (a recv hook that misses bytes shows there)
expect_eq "the drain leaves nothing waiting once streams end, no pair closed with bytes counted unread" \
  "waiting 0, closed unread 0" "$(mc status --json | jq -r '.drain | "waiting \(.waiting), closed unread \(.closed_unread)"')"

# --- a full pair table: new connections stay on TCP and stay intact
hold=()
for i in $(seq 1 40); do   # idle connections, 3 pairs each (app, sidecars, app)
  "$VC" exec client -- bash -c "exec 3<>/dev/tcp/${stream%:*}/${stream#*:}; sleep 60" >/dev/null 2>&1 &
  hold+=($!)
done
wait_for 100 sh -c "[ \"\$('$MESHCUT' --socket '$sock' status --json | jq '.maps.pairs_used >= .maps.pairs_max')\" = true ]"
used=$(mc status --json | jq -c '{used: .maps.pairs_used, max: .maps.pairs_max}')
ns0=$(stats_json | jq '[.kinds[].no_slot] | add')
run_stream "$TEST_TMP/full.json" --mode echo --bytes 64M --min-msg 1 --max-msg 4M --seed 42
ns1=$(stats_json | jq '[.kinds[].no_slot] | add')
check "with the pair table full ($used), a new stream is intact" stream_ok "$TEST_TMP/full.json"
check "... and its connections were refused a slot, counted ($((ns1 - ns0)))" test $((ns1 - ns0)) -gt 0
kill "${hold[@]}" 2>/dev/null; pkill -f "exec 3<>/dev/tcp/${stream%:*}" 2>/dev/null; wait "${hold[@]}" 2>/dev/null
wait_for 50 sh -c "[ \"\$('$MESHCUT' --socket '$sock' status --json | jq '.maps.pairs_used < 10')\" = true ]"
check "closed connections give their slots back" test "$(mc status --json | jq .maps.pairs_used)" -lt 10

# --- fairness: one pod cannot take every pair slot. The client holds 40 idle
# connections (each charges it 2 slots, its app's and its sidecar's; the 3rd
# is the stream pod's); then client2 makes requests to ds.
holders() { # N: idle connections from the client
  local i
  for i in $(seq 1 "$1"); do
    "$VC" exec client -- bash -c "exec 3<>/dev/tcp/${stream%:*}/${stream#*:}; sleep 60" >/dev/null 2>&1 &
    hold+=($!)
  done
}
release() { kill "${hold[@]}" 2>/dev/null; pkill -f "exec 3<>/dev/tcp/${stream%:*}" 2>/dev/null; wait "${hold[@]}" 2>/dev/null; hold=(); }
client2_redirected() { # -> messages client2's requests to ds had redirected, all pair kinds
  local r0 r1
  r0=$(stats_json | jq '[.redirected[]] | add')
  "$VC" exec client2 -- "$BUILD/tests/meshload" --url "http://$(svc_addr ds)/" -c 1 -d 1 --json >/dev/null 2>&1
  r1=$(stats_json | jq '[.redirected[]] | add')
  echo $((r1 - r0))
}
mc pod-pairs-max 0 >/dev/null # no limit: the client fills the table
hold=(); holders 40
wait_for 100 sh -c "[ \"\$($(mc_admin_cmd node1) status --json | jq '.maps.pairs_used >= .maps.pairs_max')\" = true ]"
unfair=$(client2_redirected)
release
wait_for 50 sh -c "[ \"\$($(mc_admin_cmd node1) status --json | jq '.maps.pairs_used < 10')\" = true ]"
q0=$(stats_json | jq '[.kinds[].quota] | add')
check "a limit per pod is set ($(mc pod-pairs-max 16))" test "$(mc status --json | jq .pod_pairs_max)" = 16
holders 40
wait_for 100 sh -c "[ \"\$($(mc_admin_cmd node1) stats --json | jq '[.kinds[].quota] | add')\" -ge $((q0 + 40)) ]"
used=$(mc status --json | jq -c '{used: .maps.pairs_used, max: .maps.pairs_max}')
fair=$(client2_redirected)
q1=$(stats_json | jq '[.kinds[].quota] | add')
diag "without a limit the client held the table and client2 had $unfair messages redirected; with 16 per pod: $used, $fair"
check "with 16 slots per pod the client's 40 connections leave slots free ($used)" \
  jq -e '.used <= 32' <<<"$used"
check "... its connections over the limit stayed on TCP, counted as quota ($((q1 - q0)))" test $((q1 - q0)) -ge 40
check "... and client2's requests to ds were redirected ($fair messages; without a limit: $unfair)" \
  test "$fair" -gt 100 -a "$unfair" -lt "$fair"
release
mc pod-pairs-max 8192 >/dev/null

# --- a stalled reader: the memory it holds stays under the bound
tcp_mem_kib() { awk '/^TCP:/ { for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1) * 4 }' /proc/net/sockstat; }
# LIMIT UNTIL_KIB SECONDS -> "KiB seconds": the TCP memory a stalled stream
# holds once it passed UNTIL_KIB, or after SECONDS (the time it ran)
stall() {
  local m0 m1 pid t0 t
  mc backlog-limit "$1" >/dev/null
  "$VC" restart >/dev/null 2>&1
  m0=$(tcp_mem_kib)
  vcx client -- "$BUILD/tests/meshstream" --connect "$stream" --mode source --bytes 2G \
    --min-msg 64K --max-msg 1M --seed 3 --slow-reader-us 30000000 --read-size 1 \
    --timeout "$(slow 8)" >/dev/null 2>&1 &
  pid=$!
  t0=$(date +%s.%N)
  while :; do
    sleep 0.2
    m1=$(tcp_mem_kib); t=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$2" -gt 0 ] && [ $((m1 - m0)) -gt "$2" ]; then break; fi
    awk -v t="$t" -v s="$3" 'BEGIN { exit !(t >= s) }' && break
  done
  kill "$pid" 2>/dev/null; pkill -f -- "--slow-reader-us 30000000" 2>/dev/null; wait "$pid" 2>/dev/null
  echo "$((m1 - m0)) $t"
}
# without the bound, until it holds 64 MiB (under a second here, about a
# minute in the 6.1 VM); with it, as long (3 s at least)
read -r unbounded t_unbounded <<<"$(stall 1073741824 $((64 * 1024)) "$(slow 6)")"
read -r bounded _ <<<"$(stall 4194304 0 "$(awk -v t="$t_unbounded" 'BEGIN { print (t < 3) ? 3 : t }')")"
diag "stalled reader holds $bounded KiB with a 4 MiB bound, $unbounded KiB with 1 GiB"
check "a stalled reader holds less than 48 MiB with the default 4 MiB bound ($bounded KiB)" test "$bounded" -lt $((48 * 1024))
check "without the bound it holds more than that (> 48 MiB: $unbounded KiB), so the check can fail" test "$unbounded" -gt $((48 * 1024))
mc backlog-limit 4194304 >/dev/null

# --- a pair leaving mid-stream keeps its FIN back until the agent deleted it:
# until then the app's socket can hold redirected and TCP bytes at once and a
# short read is not the end of the data (a reader trusting "short read +
# EPOLLRDHUP" would stop early). The agent is stopped so it cannot delete.
"$VC" restart >/dev/null 2>&1
mc backlog-limit 65536 >/dev/null
agent_pid=$(cat "/run/meshcut-vc/$VCLUSTER_NAME/pids/node1.agent.pid")
fh0=$(stats_json | jq '[.kinds[].fin_held] | add')
kill -STOP "$agent_pid"
vcx client -- python3 "$ROOT/tests/probes/slow_source_reader.py" "${stream%:*}" "${stream#*:}" \
  $((4 << 20)) 1 >"$TEST_TMP/leave.json" 2>&1 &
reader=$!
# 1 s unread (the pair leaves), then the rest is read; within 3 s the old
# behaviour had delivered EOF (about 1 s in); held FINs are bounded (~6 s)
sleep 3
early_eof=$(jq -r '.eof_s // empty' "$TEST_TMP/leave.json" 2>/dev/null)
kill -CONT "$agent_pid"
wait "$reader"
fh1=$(stats_json | jq '[.kinds[].fin_held] | add')
diag "leaving pair: $(cat "$TEST_TMP/leave.json")"
check "a pair that left mid-stream delivered every byte" jq -e '.bytes == 4194304' "$TEST_TMP/leave.json"
check "... and no EOF while the agent (stopped) had not deleted it" test -z "$early_eof"
check "... and EOF once the agent ran again (FINs held: $((fh1 - fh0)))" jq -e '.eof_s != null' "$TEST_TMP/leave.json"
mc backlog-limit 4194304 >/dev/null
tap_done
