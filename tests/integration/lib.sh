# TAP helpers for meshcut's integration tests (bash, run by prove).
# A test file sources this, calls tap_plan N (or tap_done at the end), and
# reports each check with ok/not_ok/check/skip. Every test runs its own
# virtual cluster (VCLUSTER_NAME) and removes it on exit, also on failure.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
export BUILD
VC=$ROOT/tests/vcluster/vcluster
MESHCUT=$BUILD/meshcut
TAP_N=0
TAP_FAILED=0

# How much slower than the machines the tests were tuned on this one runs,
# a whole number: 1 here; the 6.1 kernel leg (tests/vm/leg, software
# emulation) measures it and passes it in. Waits for something to happen and
# durations that must carry enough traffic scale by it (slow SECONDS); what a
# test asserts never does.
MC_SLOW=${MC_SLOW:-1}
slow() { awk -v s="$1" -v f="$MC_SLOW" 'BEGIN { printf "%g\n", s * f }'; }

tap_plan() { echo "1..$1"; }
tap_done() { echo "1..$TAP_N"; }
ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
not_ok() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - # SKIP $*"; }
diag() { printf '# %s\n' "$@"; }
# check "description" command...: ok when the command succeeds (its stdout is dropped)
check() {
  local d=$1; shift
  if "$@" >/dev/null; then ok "$d"; else not_ok "$d"; fi
}
# expect_eq "description" expected actual
expect_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP integration tests need root (network namespaces, BPF)"
    exit 0
  fi
}

# a cluster per test file; removed on exit whatever happens
vc_test_cluster() { # NAME
  export VCLUSTER_NAME=$1
  trap 'vc_test_cleanup' EXIT
  "$VC" down >/dev/null 2>&1 || true
}
vc_test_cleanup() {
  local rc=$?
  "$VC" down >/dev/null 2>&1 || true
  [ -n "${TEST_TMP:-}" ] && rm -rf "$TEST_TMP"
  return $rc
}

vcx() { "$VC" exec "$@"; }
node_sock() { "$VC" status --json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .agent_socket'; }
pod_ip() { "$VC" status --json | jq -r --arg p "$1" '.pods[] | select(.name == $p) | .ip'; }
pod_netns() { "$VC" status --json | jq -r --arg p "$1" '.pods[] | select(.name == $p) | .netns'; }
svc_addr() { "$VC" status --json | jq -r --arg s "$1" '.services[] | select(.name == $s) | "\(.vip):\(.port)"'; }
node_netns() { "$VC" status --json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .netns'; }
# Admin calls (mode, backlog-limit, monitor, every pod's registration) are
# served only to uid 0 in the agent's own network namespace, where an operator
# runs the CLI (kubectl exec into the agent's pod). The host's namespace is not
# the node's here: from it, these calls get 403.
#   mc_admin NODE ARGS...      the CLI on NODE's agent, from NODE's namespace
#   mc_admin_cmd NODE          the same as a command prefix for `sh -c "..."` strings
#   mc_admin_curl NODE ARGS... curl on NODE's agent socket, from NODE's namespace
# A node's namespace and socket never change while its cluster is up: looked
# up once per node (vcluster status takes a while on a busy machine, and a
# monitor session timed against a load run must start when it is asked to)
declare -A MC_ADMIN_NS MC_ADMIN_SOCK
mc_admin_node() { # NODE: fill the cache
  if [ -z "${MC_ADMIN_NS[$1]:-}" ] || [ ! -e "/run/netns/${MC_ADMIN_NS[$1]}" ]; then
    MC_ADMIN_NS[$1]=$(node_netns "$1")
    MC_ADMIN_SOCK[$1]=$(node_sock "$1")
  fi
}
mc_admin() { # NODE ARGS...
  local n=$1; shift
  mc_admin_node "$n"
  nsenter --net="/run/netns/${MC_ADMIN_NS[$n]}" -- "$MESHCUT" --socket "${MC_ADMIN_SOCK[$n]}" "$@"
}
mc_admin_cmd() { # NODE
  mc_admin_node "$1"
  printf "nsenter --net='/run/netns/%s' -- '%s' --socket '%s'" "${MC_ADMIN_NS[$1]}" "$MESHCUT" "${MC_ADMIN_SOCK[$1]}"
}
mc_admin_curl() { # NODE CURL-ARGS... (URLs http://meshcut-agent/...)
  local n=$1; shift
  mc_admin_node "$n"
  nsenter --net="/run/netns/${MC_ADMIN_NS[$n]}" -- curl -s --unix-socket "${MC_ADMIN_SOCK[$n]}" "$@"
}
stats_json() { mc_admin "${1:-node1}" stats --json; }
# one connection through POD's sidecar to its app (node1), the app reading
# with recv(): its bytes arrive intact, and are REDIRECTED (yes|no) or not
inbound_traffic() { # LABEL REDIRECTED POD
  local m0 m1 out
  m0=$(stats_json | jq '.kinds.inbound.msgs')
  out=$("$VC" exec "$3" -- "$BUILD/tests/sockcompat" --scenario echo --addr "$(pod_ip "$3")" --app-reads 2>&1)
  m1=$(stats_json | jq '.kinds.inbound.msgs')
  check "$1: the connection's bytes arrive intact ($out)" jq -e '.intact == true' <<<"$out"
  if [ "$2" = yes ]; then
    check "$1: ... redirected ($((m1 - m0)) messages)" test $((m1 - m0)) -gt 0
  else
    expect_eq "$1: ... not redirected (messages)" 0 $((m1 - m0))
  fi
}
# After mode off on traffic whose readers read every byte: the drain took
# every socket out of the SOCKHASH, no pair waits, and no pair's sockets closed
# while the drain still counted redirected bytes unread (what a recv hook that
# misses bytes would leave: its backlog never reaches 0)
drain_clean() { # LABEL [NODE]
  local n=${2:-node1} st
  wait_for 100 sh -c "[ \"\$($(mc_admin_cmd "$n") status --json | jq '.maps.sockhash + .drain.waiting')\" = 0 ]"
  st=$(mc_admin "$n" status --json |
    jq -r '"in the SOCKHASH \(.maps.sockhash), waiting \(.drain.waiting), closed unread \(.drain.closed_unread)"')
  expect_eq "$1: the drain settled, every closed pair read to its last byte ($n)" \
    'in the SOCKHASH 0, waiting 0, closed unread 0' "$st"
}
# packets kube-proxy's INVALID drop (the vcluster's KUBE-FORWARD rule) dropped
# on NODE so far ("none": the node has no such rule)
invalid_drops() {
  ip netns exec "$("$VC" status --json | jq -r --arg n "$1" '.nodes[] | select(.name == $n) | .netns')" iptables-save -c -t filter |
    awk '/-A KUBE-FORWARD .*--ctstate INVALID -j DROP/ { gsub(/[\[\]]/, "", $1); split($1, a, ":"); n = a[1] } END { print (n == "" ? "none" : n) }'
}

# TCP data segments a pod's namespace has sent so far
pod_data_segs() {
  nsenter --net="/run/netns/$(pod_netns "$1")" awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "TCPOrigDataSent") c = i; h = 1 } else print $c }' /proc/net/netstat
}

# the agent builds some tests use (test_agent, layout_next_agent)
. "$ROOT/tests/integration/builds.sh"

# wait until CMD succeeds (up to N tenths of a second)
# (scaled by MC_SLOW: a bound on waiting, never what is asserted)
wait_for() { # TENTHS CMD...
  local n=$(( $1 * MC_SLOW )) i; shift
  for i in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
