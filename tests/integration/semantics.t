#!/usr/bin/env bash
# Socket semantics on a redirected pair, scenario by scenario, against plain
# TCP in the same pod: what docs/semantics.md's table says, exactly.
# Each scenario runs on an inbound-shaped pair (sidecar uid 1337 from
# 127.0.0.6 -> the app), paired by meshcut, and on a plain pair (uid 0 from
# 127.0.0.7, which Istio and meshcut both leave alone). The app's socket is the
# reader, after one warm-up byte read with recv() (meshcut redirects towards
# an app only then), so every scenario runs on redirected bytes.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcsem
"$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut >/dev/null 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; exit 1; }
ip=$(pod_ip ds)
inb0=$(stats_json | jq .redirected.inbound)
run() { # SCENARIO mesh|plain -> JSON
  local extra=()
  [ "$2" = plain ] && extra=(--src 127.0.0.7 --uid 0)
  [ "$1" = splice_app ] || extra+=(--app-reads)
  timeout 15 "$VC" exec ds -- "$BUILD/tests/sockcompat" --scenario "$1" --addr "$ip" "${extra[@]}" ||
    echo '{"error":"timed out"}'
}
field() { jq -r ".$2" <<<"$1"; }
both() { # SCENARIO -> sets M (meshcut) and P (plain)
  M=$(run "$1" mesh); P=$(run "$1" plain)
  diag "$1: meshcut $M" "$1: tcp     $P"
}

both echo
expect_eq "echo 1 MiB with half-close: intact on TCP" true "$(field "$P" intact)"
expect_eq "echo 1 MiB with half-close: intact with meshcut (the FIN waits for the reader)" 1048576 "$(field "$M" client_got)"
both half_close
expect_eq "half-close, reader in TIME_WAIT: the answer arrives with meshcut as on TCP" \
  "$(field "$P" client_got)" "$(field "$M" client_got)"
# the sender closes and gives up on its FIN (one retry) long before the app
# reads: a FIN that would only take the app to CLOSE_WAIT passes the gate
both fin_late_reader
expect_eq "a reader that reads long after the sender closed and gave up: every byte, then EOF, on TCP" \
  true/true "$(field "$P" intact)/$(field "$P" eof)"
expect_eq "... and with meshcut (a FIN towards an ESTABLISHED reader is never held)" \
  true/true "$(field "$M" intact)/$(field "$M" eof)"
both peek
expect_eq "MSG_PEEK: same as TCP" "$(field "$P" peeked)/$(field "$P" read)" "$(field "$M" peeked)/$(field "$M" read)"
both rcvlowat
expect_eq "SO_RCVLOWAT: poll ignores readiness below the mark, as on TCP (the socket leaves the shortcut)" \
  "$(field "$P" readable_below_lowat)" "$(field "$M" readable_below_lowat)"
both waitall
expect_eq "MSG_WAITALL on TCP waits for all 1000 bytes" 1000 "$(field "$P" first_recv)"
check "MSG_WAITALL with meshcut: the first call may return early (documented), never more than asked" \
  test "$(field "$M" first_recv)" -ge 1 -a "$(field "$M" first_recv)" -le 1000
both fionread
# FIONREAD sees a socket's redirected bytes only where tcp_bpf answers the
# ioctl itself (tcp_bpf_ioctl, in the kernel's BTF: 6.18 here, not 6.1)
if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q "FUNC 'tcp_bpf_ioctl'"; then
  expect_eq "FIONREAD counts redirected bytes on this kernel (tcp_bpf_ioctl), as TCP counts its queue" \
    "$(field "$P" fionread)" "$(field "$M" fionread)"
else
  expect_eq "FIONREAD on this kernel (no tcp_bpf_ioctl) counts TCP's queue only: 0 with 1234 redirected bytes (documented)" \
    "1234/0" "$(field "$P" fionread)/$(field "$M" fionread)"
fi
both rst_unread
expect_eq "RST with unread data: TCP still delivers the data" 5000 "$(field "$P" client_got)"
expect_eq "RST with unread data: meshcut discards the redirected bytes (documented)" 0 "$(field "$M" client_got)"
expect_eq "RST: both report the reset" "Connection reset by peer" "$(field "$M" client_errno)"
both splice_app
expect_eq "an app that reads with splice() from the start gets every byte (it stays on TCP)" \
  "$(field "$P" server_got)" "$(field "$M" server_got)"
both splice
expect_eq "an app that reads with recv() and then with splice() on TCP gets every byte" 100000 "$(field "$P" client_got)"
# the sender closed: its FIN reaches the ESTABLISHED app at once (the gate
# holds a FIN only where it would free unread bytes), and splice(), which
# reads TCP's queue only, sees the end of the stream before the redirected
# bytes that recv() would return
expect_eq "... with meshcut splice() sees the end of the stream without the redirected bytes (documented)" \
  "0/" "$(field "$M" client_got)/$(field "$M" client_errno)"
both close_unread
expect_eq "close with unread data: TCP's peer gets a reset" "Connection reset by peer" "$(field "$P" client_errno)"
expect_eq "close with unread data: meshcut's peer sees end of stream (documented)" "0" "$(field "$M" client_read)"
# A direction towards an app starts on TCP and may redirect only once the app
# has read every TCP byte: exactly then, never a byte earlier (early_short
# reorders bytes if a redirect starts while the app is 8 KiB behind; a
# nonblocking sender's short write used to make a byte count of the early
# bytes come out short) and not never (early_stream: the app catches up).
both early_short
expect_eq "early TCP bytes, a short write, then more bytes while the app is behind: in order on TCP" \
  true "$(field "$P" intact)"
expect_eq "... and in order with meshcut (no redirect overtakes unread TCP bytes)" true "$(field "$M" intact)"
prom0=$(stats_json | jq .kinds.inbound.promoted)
both early_stream
prom1=$(stats_json | jq .kinds.inbound.promoted)
expect_eq "8 MiB streamed to an app that reads late and slowly, then catches up: intact with meshcut" \
  true "$(field "$M" intact)"
check "... and the direction moved from TCP to redirect once the app had caught up ($((prom1 - prom0)))" \
  test $((prom1 - prom0)) -ge 1
# The app's memory cgroup is full (cgroup v1 kmem.tcp limit): a redirect is
# charged there from inside the sidecar's send(), and fails with ENOMEM.
# the cgroup v1 memory hierarchy, wherever it is mounted (none on a node with
# cgroup v2 only)
MEMCG=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/mounts)
if [ -e "$MEMCG/memory.kmem.tcp.limit_in_bytes" ]; then
  cg=$MEMCG/mcsem-rcvmem-$$
  trap 'rmdir "$cg" 2>/dev/null; vc_test_cleanup' EXIT
  mkdir "$cg" && echo 262144 >"$cg/memory.kmem.tcp.limit_in_bytes"
  rcvmem() { timeout 20 "$VC" exec ds -- "$BUILD/tests/sockcompat" --scenario rcvmem --addr "$ip" \
               --memcg "$cg/cgroup.procs" "$@" || echo '{"error":"timed out"}'; }
  se0=$(stats_json | jq .kinds.inbound.to_tcp.send_error)
  M=$(rcvmem); P=$(rcvmem --src 127.0.0.7 --uid 0)
  se1=$(stats_json | jq .kinds.inbound.to_tcp.send_error)
  diag "rcvmem: meshcut $M" "rcvmem: tcp     $P"
  expect_eq "the app's memory cgroup is full: TCP delivers 2 MiB and its close, the writer only waits" \
    true/0 "$(field "$P" intact)/$(field "$P" enomem)"
  expect_eq "... meshcut delivers every byte and the close too (within 5 s)" true "$(field "$M" intact)"
  check "... the redirect that failed moved the pair to TCP ($((se1 - se0)) pairs)" test $((se1 - se0)) -ge 1
  check "... after one send() failed with ENOMEM (documented; $(field "$M" enomem))" \
    test "$(field "$M" enomem)" -le 1
  # two threads send on one socket at once (the socket's lock is let go during
  # each redirect), some redirects fail; the app had half-closed first, so the
  # sender's FIN is held while redirected bytes are unread: a count that came
  # out too high would hold it for good
  mixed() { timeout 30 "$VC" exec ds -- "$BUILD/tests/sockcompat" --scenario fin_mixed_senders \
              --addr "$ip" --memcg "$cg/cgroup.procs" --read-timeout-ms 8000 "$@" || echo '{"error":"timed out"}'; }
  M=$(mixed); P=$(mixed --src 127.0.0.7 --uid 0)
  diag "fin_mixed_senders: meshcut $M" "fin_mixed_senders: tcp     $P"
  expect_eq "two threads send on one socket, the app half-closed first: every byte, then EOF, on TCP" \
    true "$(jq '.got == .sent and .sent > 0 and .eof' <<<"$P")"
  expect_eq "... and with meshcut (each send() settles its own count)" \
    true "$(jq '.got == .sent and .sent > 0 and .eof' <<<"$M")"
  rmdir "$cg"
else
  for _ in 1 2 3 4 5 6; do
    skip "full memory cgroup: this kernel has no cgroup v1 memory controller with kmem.tcp limits"
  done
fi
both woken_reader
expect_eq "a blocking recv() woken by its socket's own half-close keeps waiting on TCP" 0 "$(field "$P" eagain)"
check "... with meshcut tcp_bpf's recv returns EAGAIN instead ($(field "$M" eagain) times; documented)" \
  test "$(field "$M" eagain)" -ge 1
expect_eq "... and a reader that retries gets every byte" true "$(field "$M" intact)"

inb1=$(stats_json | jq .redirected.inbound)
check "the meshcut runs really were redirected ($((inb1 - inb0)) messages)" test $((inb1 - inb0)) -ge 10
held=$(stats_json | jq '[.kinds[].fin_held] | add')
check "closing FINs were held until the reader caught up ($held)" test "$held" -ge 1
# --- meshcut.io/app-sockets: tcp (pod ds-tcp): the app's own sockets stay on
# TCP, so the blocking reader behaves as on TCP; its sidecar's pairs with other
# sidecars are still shortcut
inb0=$(stats_json | jq .redirected.inbound)
T=$(timeout 15 "$VC" exec ds-tcp -- "$BUILD/tests/sockcompat" --scenario woken_reader \
      --addr "$(pod_ip ds-tcp)" --app-reads || echo '{"error":"timed out"}')
diag "woken_reader in ds-tcp: $T"
expect_eq "app-sockets tcp: a blocking recv() woken by its half-close keeps waiting, as on TCP" 0 "$(field "$T" eagain)"
expect_eq "app-sockets tcp: ... and gets every byte" true "$(field "$T" intact)"
inb1=$(stats_json | jq .redirected.inbound)
expect_eq "app-sockets tcp: the app's inbound pair was not redirected" 0 $((inb1 - inb0))
r0=$(stats_json | jq -c .redirected)
n=$("$VC" exec client -- "$BUILD/tests/meshload" --url "http://$(svc_addr ds-tcp)/" -c 1 -d 1 --json |
    tail -1 | jq '.requests + .warmup_requests')
r1=$(stats_json | jq -c .redirected)
diag "client -> ds-tcp, $n requests: redirected $r0 -> $r1"
d() { jq -n --argjson a "$r0" --argjson b "$r1" "\$b.$1 - \$a.$1"; }
check "app-sockets tcp: client -> ds-tcp: the sidecar pair (3<->4) is redirected ($(d node_local) for $n requests)" \
  test "$(d node_local)" -ge "$n" -a "$n" -gt 10
check "app-sockets tcp: ... so is the client pod's own app pair (1<->2: $(d outbound))" test "$(d outbound)" -ge "$n"
expect_eq "app-sockets tcp: ... ds-tcp's app pair (5<->6) is not" 0 "$(d inbound)"
expect_eq "meshcut pods shows the pod's choice" tcp \
  "$(mc_admin node1 pods --json | jq -r '.[] | select(.pod == "default/ds-tcp") | .app_sockets')"

# an edge-triggered reader (HAProxy, nginx: a short read means "drained")
# while its pair leaves the shortcut with redirected bytes unread: the TCP
# bytes behind them spend their edge on a read of the redirected ones. Once
# the reader has read those, the drain deletes its socket from the SOCKHASH
# and the agent wakes it (agent/shortcut/waker.h): it reads the TCP bytes
# without waiting for more to come. Without the wake it waited (3 s here)
woken() { mc_admin node1 status --json | jq .drain.readers_woken; }
mc_admin node1 backlog-limit 65536 >/dev/null
b0=$(stats_json | jq .to_tcp.backlog); w0=$(woken)
M=$(run edge_reader mesh)
b1=$(stats_json | jq .to_tcp.backlog); w1=$(woken)
P=$(run edge_reader plain)
mc_admin node1 backlog-limit 4194304 >/dev/null
diag "edge_reader: meshcut $M" "edge_reader: tcp     $P"
expect_eq "an edge-triggered reader on TCP: every byte, never without an edge" true/0 "$(field "$P" intact)/$(field "$P" stalls)"
check "... with meshcut the pair left the shortcut mid-stream (to_tcp.backlog +$((b1 - b0)))" test $((b1 - b0)) -ge 1
check "... the agent woke the readers of the drained sockets (drain.readers_woken +$((w1 - w0)))" test $((w1 - w0)) -ge 1
expect_eq "... and the reader read every byte without waiting for an edge" true/0 \
  "$(field "$M" intact)/$(field "$M" stalls)"
# the wake enters the pods' namespaces only for its pass: a namespace the
# agent kept open would outlive its pod, and the registration with it
agent_pid=$(cat "/run/meshcut-vc/$VCLUSTER_NAME/pids/node1.agent.pid")
held=$(for f in /proc/"$agent_pid"/fd/*; do readlink "$f"; done 2>/dev/null | grep -c '^net:\[' || true)
expect_eq "... and between passes the agent (pid ${agent_pid:-missing}) holds no network namespace open" \
  "true/0" "$([ -d "/proc/${agent_pid:-none}/fd" ] && echo true)/$held"

# the same reader when its pair leaves for another reason: the sidecar writes
# 60,000 bytes (redirected), stops at a gate while the test moves the pair to
# TCP, then writes 20,000 more (TCP). gated_start starts it; gated_result ends it
TEST_TMP=$(mktemp -d)
gated_start() { # NAME: the scenario runs in the background until its gate opens
  rm -f "$TEST_TMP/$1.gate"
  timeout 60 "$VC" exec ds -- "$BUILD/tests/sockcompat" --scenario edge_reader --addr "$ip" \
    --app-reads --gate "$TEST_TMP/$1.gate" >"$TEST_TMP/$1.json" 2>"$TEST_TMP/$1.err" &
  GATED=$!
  wait_for 100 grep -q "first bytes written" "$TEST_TMP/$1.err"
}
gated_result() { # NAME: opens the gate, waits for the scenario; M gets its JSON
  touch "$TEST_TMP/$1.gate"
  wait "$GATED" # (not in a subshell: only this shell can wait for it)
  M=$(cat "$TEST_TMP/$1.json")
  [ -n "$M" ] || diag "$1: $(cat "$TEST_TMP/$1.err")"
}
# a mode change (the agent's sweep drains the pair and wakes the reader)
w0=$(woken); d0=$(stats_json | jq .to_tcp.mode)
gated_start mode
mc_admin node1 mode node >/dev/null
gated_result mode
mc_admin node1 mode full >/dev/null
w1=$(woken); d1=$(stats_json | jq .to_tcp.mode)
diag "edge_reader, mode change: $M"
check "an edge-triggered reader whose pair leaves for a mode change: the pair left (to_tcp.mode +$((d1 - d0)))" \
  test $((d1 - d0)) -ge 1
check "... the agent woke the readers (drain.readers_woken +$((w1 - w0)))" test $((w1 - w0)) -ge 1
expect_eq "... and the reader read every byte without waiting for an edge" \
  true/0 "$(field "$M" intact)/$(field "$M" stalls)"

# kTLS: the app sets TCP_ULP "tls" mid-stream. Found by trying on plain TCP
# first (the kernel loads the tls module on demand: Debian's 6.1 has it; the
# development kernel has no CONFIG_TLS)
P=$(run ulp plain)
if [ "$(field "$P" ulp_errno)" = "No such file or directory" ]; then
  skip "kTLS (a ULP) makes a socket leave the shortcut: this kernel has no tls ULP (tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp))"
else
  u0=$(stats_json | jq .to_tcp.ulp)
  M=$(run ulp mesh)
  u1=$(stats_json | jq .to_tcp.ulp)
  diag "ulp: meshcut $M" "ulp: tcp     $P"
  expect_eq "kTLS: TCP_ULP tls mid-stream on TCP: set, and 256 KiB each way before and after arrive whole" "/true" \
    "$(field "$P" ulp_errno)/$(field "$P" intact)"
  expect_eq "kTLS: ... the same with meshcut" "/true" "$(field "$M" ulp_errno)/$(field "$M" intact)"
  check "kTLS: ... the app's socket left the shortcut for it (to_tcp.ulp +$((u1 - u0)))" test $((u1 - u0)) -ge 1
fi
# an uninstall (its own drain wakes the reader; it knows no registry, so it
# walks every namespace under --netns-dir)
gated_start uninstall
VC_DRAIN_TIMEOUT=30 "$VC" meshcut stop >/dev/null 2>&1 &
STOPPING=$!
pins=$("$VC" status --json | jq -r '.nodes[0].bpffs')
modes_off() { # the uninstall's first step: no new redirects
  [ "$(bpftool map lookup pinned "$pins/control" key 0 0 0 0 -j 2>/dev/null |
    jq -r '.formatted.value.modes')" = 0 ]
}
wait_for 200 modes_off
gated_result uninstall
wait "$STOPPING"
ulog=$(cat "/run/meshcut-vc/$VCLUSTER_NAME/logs/node1.uninstall.log" 2>/dev/null)
diag "edge_reader, uninstall: $M" "$ulog"
check "an edge-triggered reader whose pair leaves at an uninstall: the uninstall drained it and removed everything" \
  grep -q "everything removed" <<<"$ulog"
expect_eq "... and woke the reader: every byte, no wait for an edge" \
  true/0 "$(field "$M" intact)/$(field "$M" stalls)"
tap_done
