#!/usr/bin/env bash
# The socket shortcut's per-socket hooks (the recv/send hooks and the FIN
# gate: they run for every socket of the node, paired or not) follow the mode
# (agent/shortcut/socket_hooks.h): attached whenever a mode may pair, released
# once the mode has no socket shortcut and no socket is left in it, and never
# while a socket in it holds redirected bytes its reader has not read (they
# count those bytes; the drain deletes the pair only when the count says the
# reader caught up). Proved on the node's attachments: the agent's status,
# its pins, and the kernel's links and cgroup programs, which must agree
# exactly. The bytes of every connection are checked too, but a missing hook
# would not show there at once (the drain would wait, not lose): the
# attachments are the proof.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcsockhooks
TEST_TMP=$(mktemp -d)
"$VC" up --topology "$ROOT/tests/topologies/race.json" >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
ip=$(pod_ip race)
st=$("$VC" status --json)
pins=$(jq -r '.nodes[0].bpffs' <<<"$st")
cg=$(jq -r '.nodes[0].cgroup' <<<"$st")
state=$(jq -r .state_dir <<<"$st")
log=$state/logs/node1.agent.log
layout=$(sed -n 's/^#define MC_LAYOUT_VERSION \([0-9]*\)$/\1/p' "$ROOT/bpf/control.h")

status_hooks() { mc_admin node1 status --json | jq -r .attach.socket_hooks_attached; }
# pinned links of the recv/send hooks (tracepoints on 6.3+, fexit on 6.1;
# rw_hooks.c), and the FIN gate's
rw_pins() { ls "$pins/v$layout" | grep -cE '^link_(recv_length|send_length|recv_fexit|recv_parser_fexit|send_fexit|sendpage_fexit)$'; }
fin_pin() { ls "$pins/v$layout" | grep -c '^link_fin_gate$'; }
hook_pins() { echo $(( $(rw_pins) + $(fin_pin) )); }
# the kernel's view: links that run the recv/send programs (by name, which
# the kernel cuts to 15 characters: the test holds the machine's integration
# lock, no other agent runs), and the FIN gate among the node cgroup's programs
rw_links() {
  local ids
  ids=$(bpftool -j prog show | jq -c '[.[] | select(.name | test("^mc_(recv_length|send_length|recv_fexit|send_fexit|recv_parser|sendpage_f)")) | .id]')
  bpftool -j link show | jq --argjson ids "$ids" '[.[] | select(.prog_id as $p | $ids | index($p))] | length'
}
fin_gate() { # (bpftool prints nothing for a cgroup without programs)
  local n
  n=$(bpftool -j cgroup show "$cg" 2>/dev/null |
    jq 'if type == "array" then [.[] | select(.attach_type == "cgroup_inet_ingress" and .name == "mc_fin_gate")] | length else 0 end')
  echo "${n:-0}"
}
hooks_are() { # on|off: the status, the pins and the kernel agree
  if [ "$1" = on ]; then
    # one link per pin: a hook attached twice would count every recv twice
    [ "$(status_hooks)" = true ] && [ "$(rw_pins)" -ge 2 ] && [ "$(fin_pin)" = 1 ] &&
      [ "$(rw_links)" = "$(rw_pins)" ] && [ "$(fin_gate)" = 1 ]
  else
    [ "$(status_hooks)" = false ] && [ "$(hook_pins)" = 0 ] && [ "$(rw_links)" = 0 ] && [ "$(fin_gate)" = 0 ]
  fi
}
hooks_seen() { echo "status $(status_hooks), pins $(hook_pins), recv/send links $(rw_links), FIN gate $(fin_gate)"; }
drain_waiting() { [ "$(mc_admin node1 status --json | jq .drain.waiting)" -ge 1 ]; }
traffic() { inbound_traffic "$1" "$2" race; }

"$VC" meshcut start --mode cross >"$TEST_TMP/start.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/start.log"
check "started in mode cross: the hooks are released (status, pins, kernel links, cgroup) ($(wait_for 50 hooks_are off; hooks_seen))" hooks_are off
check "... and the agent says so" grep -q 'socket hooks released' "$log"
traffic "cross" no

mc_admin node1 mode full >/dev/null
check "mode full: the hooks are attached when the call returns ($(hooks_seen))" hooks_are on
traffic "full" yes

# a pair whose reader has not read 256 KiB of redirected bytes, while the
# mode leaves the socket shortcut: the pair leaves, its bytes stay queued
mkfifo "$TEST_TMP/release"
"$VC" exec race -- "$BUILD/tests/sockcompat" --scenario hold_unread --addr "$ip" --app-reads \
  <"$TEST_TMP/release" >"$TEST_TMP/hold.json" 2>"$TEST_TMP/hold.err" &
holder=$!
exec 7>"$TEST_TMP/release"
check "a pair holds 256 KiB its app has not read" wait_for 100 grep -q holding "$TEST_TMP/hold.err"
mc_admin node1 mode cross >/dev/null
# the agent's loop ticks the hooks, then sweeps the drain: a sweep that found
# the pair waiting came after a tick in mode cross; a second to tick more
check "the pair left the shortcut and waits for its reader" wait_for 100 drain_waiting
sleep 1
check "mode cross with unread redirected bytes: the hooks stay ($(hooks_seen); SOCKHASH $(mc_admin node1 status --json | jq .maps.sockhash), drain waiting $(mc_admin node1 status --json | jq .drain.waiting))" hooks_are on
echo go >&7 # the sidecar writes its last 64 KiB and ends its side; the app reads it all
check "the app read every byte, in order, and the end" wait_for 100 grep -q scenario "$TEST_TMP/hold.json"
check "... intact ($(cat "$TEST_TMP/hold.json"))" jq -e '.intact == true' "$TEST_TMP/hold.json"
# the connection's sockets are still open: the drain, not a close, emptied it
check "once the drain deleted the pair (its sockets still open), the hooks are released ($(wait_for 100 hooks_are off; hooks_seen))" hooks_are off
exec 7>&-
wait "$holder"
traffic "cross again" no

"$VC" meshcut restart-agents >"$TEST_TMP/restart.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/restart.log"
check "an agent restart in mode cross attaches them and releases them again ($(wait_for 50 hooks_are off; hooks_seen))" hooks_are off
check "... the restarted agent released them itself (its log starts afresh)" grep -q 'socket hooks released' "$log"
mc_admin node1 mode off >/dev/null
check "mode off keeps them released ($(hooks_seen))" hooks_are off
"$VC" meshcut restart-agents --mode full >"$TEST_TMP/restart.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/restart.log"
check "a restart with --mode full: attached ($(hooks_seen))" hooks_are on
traffic "full after the restart" yes

"$VC" meshcut stop >"$TEST_TMP/stop.log" 2>&1 || sed 's/^/# /' "$TEST_TMP/stop.log"
check "uninstall leaves none of them (FIN gate on the cgroup: $(fin_gate))" test "$(fin_gate)" = 0 -a ! -d "$pins/v$layout"
tap_done
