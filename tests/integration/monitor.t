#!/usr/bin/env bash
# The latency monitor (meshcut monitor; agent/monitor*.c, bpf/monitor.bpf.c):
# where a request's time goes, live. Known delays land in the right category
# and hop (an app that sleeps 5 ms, a sidecar made 20 ms slower), the rebuilt
# end-to-end latency matches the load generator's, switching only the socket
# shortcut moves the kernel category and leaves proxy and app times alone,
# unregistered pods are never recorded, 100,000 connections do not grow its
# memory, and its programs are loaded only while a session runs.
# Timing checks are relative (the machine is shared): medians where a tail
# would hurt, tolerances of 10 % where the brief asks for them, off/full
# compared as per-round ratios of back-to-back runs.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcmon
TEST_TMP=$(mktemp -d)
"$VC" up --topology "$ROOT/tests/topologies/monitor.json" --placement one-node --meshcut \
  >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
sock=$(node_sock node1)
agent_pid=$(cat "/run/meshcut-vc/$VCLUSTER_NAME/pids/node1.agent.pid")
front="http://$(svc_addr front)/"
slow="http://$(svc_addr slow)/"
plain="http://$(svc_addr plain)/"

# the monitor is an admin's tool: root in the agent's network namespace (a
# pod, or the host's namespace, gets 403: security.t)
mon() { mc_admin node1 monitor "$@"; }
api() { mc_admin_curl node1 "$@"; }
mon_progs() { bpftool prog show -j | jq '[.[] | select(.name | startswith("mc_mon_"))] | length'; }
no_mon_progs() { [ "$(mon_progs)" = 0 ]; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$agent_pid/status"; }
calc() { awk "BEGIN { print $* }"; }
# within A B PCT: |A - B| <= PCT % of B
within() { awk -v a="$1" -v b="$2" -v p="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= b * p / 100) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
hop() { # REPORT CLIENT SERVER JQ-EXPR
  jq -r --arg c "default/$2" --arg s "$3" "[.hops[] | select(.client == \$c and (.server == (\"default/\" + \$s) or .server == \$s))][0] | $4" "$1"
}
# measure URL SECONDS OUT: meshload from the client pod (c=1) while one monitor
# session covers its whole run -> OUT.load, OUT.mon (PIN: a command prefix for
# meshload, e.g. taskset). The session starts first (its programs are attached
# when start returns) and stops after meshload's last answer: a window set by
# the clock missed the load's start whenever starting took longer than
# guessed (a busy machine, the 6.1 VM), and counted fewer requests than it
# sent. meshload measures every request (no warm-up), so both describe the
# same requests: with a warm-up outside meshload's numbers, their medians
# differed by 11 % in the VM with three VMs on two cores.
PIN=()
measure() {
  local url=$1 d=$2 out=$3
  mon start >/dev/null || not_ok "monitor session for $url"
  vcx client -- "${PIN[@]}" "$BUILD/tests/meshload" --url "$url" -c 1 -d "$d" --warmup 0 --json >"$out.load"
  mon stop --json >"$out.mon" || not_ok "monitor report for $url"
}

# At c=1 on a small VM a request's latency depends first on where the scheduler
# wakes each process: a wakeup on another vCPU costs tens of microseconds, and
# which regime a run lands in follows whatever else runs on the machine (seen on
# this 2-vCPU VM, unpinned: mode off 91-133 us p50 in one run and 247-260 in
# another, full about 180 in both). Unpinned rounds would compare scheduler
# placements, not the two paths, and a monitor window that starts 0.4 s before
# meshload's can average another regime than meshload's (seen: meshload 197 us,
# monitor 176 us, its first 0.4 s at 98 us). So where this test compares c=1
# latencies (the end-to-end check and the off/full rounds) the chain (the
# sidecars and apps of client, front and leaf, and meshload) runs on one CPU;
# the agent stays free. Pinned, mode off vs full measured here: kernel p50 75
# vs 50 us, meshload mean 96 vs 70 us (under the monitor; 86 vs 65 without it).
pin_cpu=0
pod_cgroup() { "$VC" status --json | jq -r --arg p "$1" '.pods[] | select(.name == $p) | .cgroup'; }
pin_chain() {
  local p pid
  for p in client front leaf; do
    for pid in $(cat "$(pod_cgroup "$p")/cgroup.procs"); do
      taskset -a -p -c "$pin_cpu" "$pid" >/dev/null || return 1
    done
  done
}

# --- loaded only while a session runs
check "no monitor program is loaded before any session" no_mon_progs

# --- the end-to-end latency it rebuilds is the load generator's
pin_chain || not_ok "pin the chain's processes to CPU $pin_cpu"
PIN=(taskset -c "$pin_cpu")
measure "$front" 3 "$TEST_TMP/e2e"
PIN=()
read -r lmean lp50 lreq <<<"$(jq -r '"\(.mean_us) \(.p50_us) \(.requests)"' "$TEST_TMP/e2e.load")"
read -r mmean mp50 mreq <<<"$(jq -r '"\(.total.mean_us) \(.total.p50_us) \(.requests)"' "$TEST_TMP/e2e.mon")"
diag "client -> front -> leaf, c=1: meshload mean $lmean us, p50 $lp50 us ($lreq requests), monitor mean $mmean us, p50 $mp50 us ($mreq requests)"
diag "$(jq -c '{proxy: .categories.proxy.mean_us, kernel: .categories.kernel.mean_us, app: .categories.app.mean_us, remote: .categories.remote.mean_us, incomplete: .reconstruction.incomplete}' "$TEST_TMP/e2e.mon")"
# medians: one slow first request (a connection made through two sidecars
# under emulation) moves a mean, not a median
check "rebuilt end-to-end latency within 10 % of meshload's (p50 $mp50 vs $lp50 us)" within "$mp50" "$lp50" 10
check "every request meshload counted was rebuilt ($mreq >= $lreq)" test "$mreq" -ge "$lreq"
sum=$(jq '[.categories[].mean_us] | add' "$TEST_TMP/e2e.mon")
check "proxy + kernel + app (+ remote) add up to the total ($sum vs $mmean us)" within "$sum" "$mmean" 1
check "each category got time" jq -e '.categories.proxy.mean_us > 0 and .categories.kernel.mean_us > 0 and .categories.app.mean_us > 0 and .categories.remote.mean_us == 0' "$TEST_TMP/e2e.mon"
check "two hops, one call each per request: client -> front, front -> leaf" jq -e \
  '[.hops[] | select(.per_request > 0.98 and .per_request < 1.02) | "\(.client)>\(.server)"] | sort == ["default/client>default/front", "default/front>default/leaf"]' "$TEST_TMP/e2e.mon"
check "programs are unloaded after the session" wait_for 30 no_mon_progs

# --- known delays land in their category and hop
measure "$slow" 4 "$TEST_TMP/delay"
base_in=$(hop "$TEST_TMP/e2e.mon" client front .median_us.proxy_in)
slow_in=$(hop "$TEST_TMP/delay.mon" client slow .median_us.proxy_in)
slow_out=$(hop "$TEST_TMP/delay.mon" client slow .median_us.proxy_out)
slow_app=$(hop "$TEST_TMP/delay.mon" client slow .median_us.app)
sleaf_app=$(hop "$TEST_TMP/delay.mon" slow sleaf .median_us.app)
sleaf_in=$(hop "$TEST_TMP/delay.mon" slow sleaf .median_us.proxy_in)
added=$(calc "$slow_in - $base_in")
diag "medians: slow's sidecar (inbound) $slow_in us vs front's $base_in us; sleaf's app $sleaf_app us; slow's app $slow_app us; sleaf's sidecar $sleaf_in us"
diag "$(jq -c '{load_mean_us: .mean_us}' "$TEST_TMP/delay.load") $(jq -c '{total: .total.mean_us, proxy: .categories.proxy.mean_us, app: .categories.app.mean_us, kernel: .categories.kernel.mean_us}' "$TEST_TMP/delay.mon")"
# what a 5 ms sleep takes on this machine: a timer wakes late by a scheduling
# delay (tens of us here, about 0.6 ms in the 6.1 VM), and the app's sleep and
# the sidecar's wait both last that much longer than asked
over=$(vcx sleaf -- python3 -c '
import time, statistics
d = []
for _ in range(40):
    t = time.monotonic(); time.sleep(0.005); d.append(time.monotonic() - t)
print(max(0, round(statistics.median(d) * 1e6 - 5000)))')
diag "a 5 ms sleep here takes ${over:-?} us longer"
check "a sidecar made 20 ms slower: +20 ms of proxy time in its own hop, inbound side (+$added us; a timer here wakes ${over} us late)" \
  within "$added" $((20000 + ${over:-0})) 10
check "an app that sleeps 5 ms: 5 ms of app time in its own hop ($sleaf_app us; a timer here wakes ${over} us late)" \
  within "$sleaf_app" $((5000 + ${over:-0})) 10
check "the sidecar's delay is nobody else's: the client's sidecar ($slow_out us), slow's app ($slow_app us), sleaf's sidecar ($sleaf_in us)" \
  sh -c "awk 'BEGIN { exit !($slow_out < 1000 && $slow_app < 1000 && $sleaf_in < 1000) }'"
check "the app's sleep is nobody else's: the outer hop's own app time stays small" \
  lt "$(hop "$TEST_TMP/delay.mon" client slow .app_us)" 1000
mload=$(jq .mean_us "$TEST_TMP/delay.load"); mtot=$(jq .total.mean_us "$TEST_TMP/delay.mon")
check "with the delays, the end-to-end latency still matches meshload's ($mtot vs $mload us)" within "$mtot" "$mload" 10

# --- only the socket shortcut changes: kernel time moves, app time stays, the
# proxy's stays within bounds (below)
# (the chain pinned to one CPU: see pin_chain above). This machine's speed
# drifts (3x within a day, seen), so each round measures off and full back to
# back, in alternating order (off-full, full-off, ...), and the checks use the
# median over rounds of each round's full/off ratio: a drift between rounds
# cancels, a drift within a round hits both orders alike.
ROUNDS=5
redirected() { stats_json node1 | jq '[.redirected[]] | add'; }
PIN=(taskset -c "$pin_cpu")
for round in $(seq $ROUNDS); do
  order="off full"; [ $((round % 2)) = 0 ] && order="full off"
  for mode in $order; do
    mc_admin node1 mode "$mode" >/dev/null
    "$VC" restart >/dev/null 2>&1
    pin_chain || not_ok "pin the chain's processes to CPU $pin_cpu ($mode, round $round)"
    r0=$(redirected)
    measure "$front" 3 "$TEST_TMP/$mode.$round"
    r1=$(redirected)
    echo "$((r1 - r0))" >"$TEST_TMP/$mode.$round.redirected"
    diag "$mode round $round: $(jq -c '{total: .total.p50_us, proxy: .categories.proxy.p50_us, kernel: .categories.kernel.p50_us, app: .categories.app.p50_us}' "$TEST_TMP/$mode.$round.mon") (p50 us), meshload $(jq -c '{mean: .mean_us, p50: .p50_us}' "$TEST_TMP/$mode.$round.load"), $((r1 - r0)) messages redirected"
  done
done
PIN=() # the next sections restart the pods: nothing stays pinned
ratio() { # FIELD: median over the rounds of full p50 / off p50
  local r
  for r in $(seq $ROUNDS); do
    jq -n --slurpfile f "$TEST_TMP/full.$r.mon" --slurpfile o "$TEST_TMP/off.$r.mon" \
      "\$f[0].categories.$1.p50_us as \$a | \$o[0].categories.$1.p50_us as \$b |
       if \$b > 0 then \$a / \$b elif \$a == 0 then 1 else 1e9 end"
  done | sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p" | xargs printf '%.3f\n'
}
med() { # MODE FIELD: median over the rounds (for the messages)
  local r
  for r in $(seq $ROUNDS); do jq ".categories.$2.p50_us" "$TEST_TMP/$1.$r.mon"; done | sort -g | sed -n "$(( (ROUNDS + 1) / 2 ))p"
}
kr=$(ratio kernel); pr=$(ratio proxy); ar=$(ratio app)
diag "median full/off per round: kernel $kr, proxy $pr, app $ar"
check "mode off redirects nothing, mode full redirects" sh -c \
  "[ \"\$(cat $TEST_TMP/off.*.redirected | sort -u)\" = 0 ] && [ \$(cat $TEST_TMP/full.*.redirected | sort -n | head -1) -gt 1000 ]"
# the saving is the kernel's (pinned, seen: rounds 0.53-0.86, median 0.79);
# 0.95 leaves room for noise and still fails when nothing moved or it moved elsewhere
check "the shortcut moves the kernel category down (median p50 $(med off kernel) -> $(med full kernel) us, median ratio $kr < 0.95)" lt "$kr" 0.95
# The proxy's own time (its receive's return -> its next send's entry: user
# space only) is not the saving, but it does shrink with the shortcut (likely: less
# kernel work between its syscalls leaves its caches warmer). Seen: host 0.76-0.80,
# the 6.1 VM under emulation 0.645-0.68 (its rounds 0.40-0.87). What must not
# happen: proxy time growing (kernel time charged to the proxy) or vanishing
# (the proxy's intervals lost or charged elsewhere): 0.45 <= ratio <= 1.35.
check "proxy time neither grows nor vanishes ($(med off proxy) -> $(med full proxy) us, median ratio $pr in [0.45, 1.35])" \
  sh -c "awk -v r=$pr -v b=$(med off proxy) 'BEGIN { exit !((r >= 0.45 && r <= 1.35) || (r - 1) * b <= 8 && (1 - r) * b <= 8) }'"
check "app time unchanged within noise ($(med off app) -> $(med full app) us, median ratio $ar)" \
  sh -c "awk -v r=$ar -v b=$(med off app) 'BEGIN { d = r - 1; if (d < 0) d = -d; exit !(d <= 0.35 || d * b <= 4) }'"

# --- unregistered pods are never recorded
# (restart first: a restarted pod registers again, like every pod whose init
# container runs)
"$VC" restart >/dev/null 2>&1
vcx plain -- "$BUILD/meshcut-init" --socket "$sock" --pod-name plain --pod-namespace default --deregister >/dev/null 2>&1
measure "$plain" 2 "$TEST_TMP/unreg"
check "traffic to the deregistered pod flows ($(jq .requests "$TEST_TMP/unreg.load") requests)" jq -e '.requests > 100 and .errors == 0' "$TEST_TMP/unreg.load"
check "no event of the deregistered pod was recorded" jq -e '.pods | has("default/plain") | not' "$TEST_TMP/unreg.mon"
check "its sockets were seen and skipped ($(jq .bpf.unregistered_skipped "$TEST_TMP/unreg.mon") send/recv calls)" jq -e '.bpf.unregistered_skipped > 0' "$TEST_TMP/unreg.mon"
check "the client's side is recorded; what the unregistered pod did is 'remote'" jq -e \
  '(.pods | has("default/client")) and ([.hops[] | select(.server == "(not on this node)" and .service == "10.96.2.14:9080" and .remote_us > 0)] | length == 1)' "$TEST_TMP/unreg.mon"

# --- one session at a time; metrics; cost
mon start >/dev/null
check "a background session loads the programs" test "$(mon_progs)" -ge 3
code=$(api -o /dev/null -w '%{http_code}' -X POST -d '{"duration": 1}' http://x/v1/monitor)
expect_eq "a second session is refused while one runs" 409 "$code"
base_map=$(api http://x/v1/monitor | jq '.live.bpf.map_bytes')
# 120,000 connections from one pod to one service within seconds, a third of
# them closed by the client first: 40,000 client ports in TIME_WAIT for 60 s,
# more than the default ephemeral range holds (28,232). connect() then searches
# the whole range on every call (minutes of CPU) and fails with EADDRNOTAVAIL
# once no port is left: that measures the port space, not the monitor. Room for
# all of them in the client pod, as an operator would give a pod that opens
# connections at that rate.
nsenter --net="/run/netns/$(pod_netns client)" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" ||
  not_ok "widen the client pod's ephemeral port range"
rss0=$(rss_kb)
"$VC" exec client -- "$BUILD/tests/connstorm" --connect "$(svc_addr leaf)" -n 20000 -c 8 >"$TEST_TMP/storm1"
rss1=$(rss_kb); s1=$(api http://x/v1/monitor | jq -c '.live | {sockets: .reconstruction.sockets, mem: .reconstruction.memory_bytes, map: .bpf.map_bytes}')
"$VC" exec client -- "$BUILD/tests/connstorm" --connect "$(svc_addr leaf)" -n 100000 -c 8 >"$TEST_TMP/storm2"
rss2=$(rss_kb); s2=$(api http://x/v1/monitor | jq -c '.live | {sockets: .reconstruction.sockets, mem: .reconstruction.memory_bytes, map: .bpf.map_bytes}')
mon stop --json >"$TEST_TMP/storm.mon"
diag "agent RSS: $rss0 kB at start, $rss1 kB after 20,000 connections, $rss2 kB after 100,000 more; $s1 -> $s2"
diag "$(jq -c '{requests, incomplete: .reconstruction.incomplete, why: .reconstruction.incomplete_by_reason, evicted: .reconstruction.evicted_sockets, events: .bpf.events, dropped: .bpf.dropped}' "$TEST_TMP/storm.mon")"
check "100,000 connections ran ($(cat "$TEST_TMP/storm2"))" jq -e '.connections == 100000 and .failed == 0' "$TEST_TMP/storm2"
check "the agent's memory did not grow with them (+$((rss2 - rss1)) kB)" test $((rss2 - rss1)) -lt 4096
check "its tables stay at their bound" jq -e -n --argjson a "$s1" --argjson b "$s2" \
  '$b.sockets <= 16384 and $a.mem == $b.mem and $a.map == $b.map'
check "the BPF maps are the same size whatever the load ($base_map bytes)" jq -e -n --argjson b "$s2" --argjson m "$base_map" '$b.map == $m'
check "short connections are rebuilt too ($(jq .requests "$TEST_TMP/storm.mon") requests)" jq -e '.requests > 20000' "$TEST_TMP/storm.mon"
check "programs are unloaded after the background session" wait_for 30 no_mon_progs
api http://x/metrics >"$TEST_TMP/metrics"
check "/metrics has the monitor's histograms" sh -c \
  "grep -q '^meshcut_monitor_request_seconds_bucket{category=\"kernel\",le=\"0.0001\"}' '$TEST_TMP/metrics' && awk '/^meshcut_monitor_request_seconds_count\\{category=\"total\"\\}/ { exit !(\$2 > 0) }' '$TEST_TMP/metrics'"

mc_admin node1 mode full >/dev/null
"$VC" restart >/dev/null 2>&1
# The loads below run until the session has ended and are stopped then: a
# load of fixed length ended before the second --compare session on the 6.1
# VM in CI (each session loads its programs first, seconds under emulation),
# which then saw no request at all.
# ("$VC" exec, not the vcx function: started with &, a command is exec'd in the
# background child, so $! is meshload itself and kill stops it)
stop_load() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; true; }
"$VC" exec client -- "$BUILD/tests/meshload" --url "$front" -c 1 -d 600 --warmup 0.3 --json >/dev/null &
load=$!
sleep 0.4
mon --json --duration 1.5 --cost --hooks fentry >"$TEST_TMP/cost.mon"
stop_load "$load"
entry=$(jq -r .hooks.send_entry "$TEST_TMP/cost.mon")
if [ "$entry" = "tp_btf/sys_enter" ]; then
  check "fentry refused by this kernel: a clear message, and the sys_enter fallback" jq -e \
    '[.hooks.notes[] | select(test("fentry.*refused"))] | length == 1' "$TEST_TMP/cost.mon"
else
  ok "fentry permitted by this kernel ($entry)"
fi
diag "BPF run time: $(jq -c '{ns_per_request: .cost.ns_per_request, ns_per_event: .cost.ns_per_event, programs: [.cost.programs[] | {section, run_cnt, ns_per_run}]}' "$TEST_TMP/cost.mon")"
check "its BPF run time is measured (kernel.bpf_stats)" jq -e '.cost.ns_per_request > 0 and ([.cost.programs[] | select(.run_cnt > 0)] | length >= 3)' "$TEST_TMP/cost.mon"
mon --overhead --iterations 300000 >"$TEST_TMP/overhead" 2>&1 && ok "node-wide syscall micro-benchmark ran" || not_ok "node-wide syscall micro-benchmark ran"
sed 's/^/# /' "$TEST_TMP/overhead"

# --- mesh vs meshcut side by side, on the same live traffic (the demo's view)
"$VC" exec client -- "$BUILD/tests/meshload" --url "$front" -c 1 -d 600 --warmup 0.3 --json >/dev/null &
load=$!
sleep 0.4
mon --compare --duration 2 --json >"$TEST_TMP/compare.json"
stop_load "$load"
check "--compare ran a session in each mode" jq -e '.full.requests > 100 and .off.requests > 100' "$TEST_TMP/compare.json"
diag "compare (mean us): $(jq -c '{off: {kernel: .off.categories.kernel.mean_us, proxy: .off.categories.proxy.mean_us, app: .off.categories.app.mean_us, remote: .off.categories.remote.mean_us, total: .off.total.mean_us}, full: {kernel: .full.categories.kernel.mean_us, proxy: .full.categories.proxy.mean_us, app: .full.categories.app.mean_us, remote: .full.categories.remote.mean_us, total: .full.total.mean_us}}' "$TEST_TMP/compare.json")"
if jq -e '[.off, .full] | all(.categories.kernel.mean_us > 0 and .categories.proxy.mean_us > 0 and .categories.remote.mean_us == 0)' "$TEST_TMP/compare.json" >/dev/null; then
  ok "--compare: both sessions split their time (nothing left unattributed)"
else
  not_ok "--compare: both sessions split their time (nothing left unattributed)"
  diag "$(jq -c '[.off, .full][] | {reconstruction, pods, hops: [.hops[] | {client, server, service, calls}]}' "$TEST_TMP/compare.json")"
fi
expect_eq "--compare restored the mode" full "$(mc_admin node1 status --json | jq -r .mode)"
check "no monitor program is left loaded" wait_for 30 no_mon_progs
tap_done
