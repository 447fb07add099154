# vcluster common: names, state folder, logging, cgroups, process spawning.
# Sourced by tests/vcluster/vcluster; every function here is side-effect free
# except spawn/kill helpers, which only touch what this cluster recorded.

VC_NAME=${VCLUSTER_NAME:-mcvc}
VC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
VC_BUILD=${BUILD:-$VC_ROOT/build}
VC_STATE=/run/meshcut-vc/$VC_NAME
VC_STATE_JSON=$VC_STATE/state.json
VC_PIN_ROOT=/sys/fs/bpf/meshcut-vc-$VC_NAME

vc_log() { [ -n "${VC_QUIET:-}" ] || printf 'vcluster: %s\n' "$*" >&2; }
vc_die() { printf 'vcluster: error: %s\n' "$*" >&2; exit 1; }

# The cgroup v2 mount, discovered (hybrid hosts mount it at /sys/fs/cgroup/unified).
vc_cgroup2_mount() {
  awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}
vc_cgroup_root() {
  local m; m=$(vc_cgroup2_mount)
  [ -n "$m" ] || vc_die "no cgroup v2 mount found in /proc/mounts"
  printf '%s/meshcut-vc-%s' "$m" "$VC_NAME"
}

# jq over the resolved cluster state
vc_q() { jq -r "$@" "$VC_STATE_JSON"; }

vc_netns_of() { # POD-or-NODE -> netns name
  vc_q --arg n "$1" '(.pods[] | select(.name == $n) | .netns), (.nodes[] | select(.name == $n) | .netns)' | head -1
}
vc_cgroup_of() { # POD-or-NODE -> cgroup dir
  vc_q --arg n "$1" '(.pods[] | select(.name == $n) | .cgroup), (.nodes[] | select(.name == $n) | .cgroup)' | head -1
}

# With `up --pin`, every process of a node runs on that node's CPU: a chain of
# processes that wake each other then never waits for another (virtual) CPU to
# be woken, so a benchmark measures the work done, not the hypervisor's IPIs.
# The cgroup v2 cpuset controller is often missing (hybrid hosts): use affinity,
# which children inherit.
# VC_PIN_MAP: "CGROUP=CPU ..." of pinned nodes, loaded once by vc_pin_map_load
# before a loop of spawns (each jq costs tens of ms on a small VM); unset, each
# call asks the state file.
vc_pin_map_load() {
  VC_PIN_MAP=$(vc_q '[.nodes[] | select(.cpu != null) | "\(.cgroup)=\(.cpu)"] | join(" ")')
}
vc_pin_self() { # CGROUP: pin this shell to the CPU of the node owning CGROUP
  local cpu e  # a node's cpu is null unless the cluster is pinned
  if [ -n "${VC_PIN_MAP+set}" ]; then
    cpu=""
    for e in $VC_PIN_MAP; do
      case $1 in "${e%=*}" | "${e%=*}"/*) cpu=${e##*=}; break ;; esac
    done
  else
    cpu=$(vc_q --arg cg "$1" '.nodes[] | select(.cgroup as $n | $cg == $n or ($cg | startswith($n + "/"))) | .cpu // empty' | head -1)
  fi
  [ -n "$cpu" ] || return 0
  taskset -p -c "$cpu" "$BASHPID" >/dev/null
}

# spawn NAME CGROUP NETNS UID -- CMD...: start a long-running process inside a
# pod or node: first join the cgroup (so a node agent attached to the node's
# cgroup sees its sockets), then the network namespace through setns (nsenter
# keeps the mount namespace: /sys/fs/bpf and the cgroup fs stay visible).
spawn() {
  local name=$1 cg=$2 ns=$3 uid=$4; shift 5
  local log=$VC_STATE/logs/$name.log
  (
    echo "$BASHPID" >"$cg/cgroup.procs"
    vc_pin_self "$cg"
    ulimit -Sn "$(ulimit -Hn)"  # no CAP_SYS_RESOURCE here: the hard limit is the ceiling
    if [ "$uid" = 0 ]; then
      exec nsenter --net="/run/netns/$ns" -- "$@"
    else
      exec nsenter --net="/run/netns/$ns" -- setpriv --reuid "$uid" --regid "$uid" --clear-groups -- "$@"
    fi
  ) >"$log" 2>&1 </dev/null &
  echo $! >"$VC_STATE/pids/$name.pid"
}

# is PID running? A zombie is not: this machine's init reaps orphans only every
# few seconds, and kill -0 succeeds on a zombie until then
vc_alive() { # PID
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop NAME...: TERM to all, then KILL what still runs after a grace period
vc_stop() {
  local name f pid i pids=()
  for name in "$@"; do
    f=$VC_STATE/pids/$name.pid
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$f"
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 1 40); do vc_alive "$pid" || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# wait until a TCP port listens in a namespace (processes start asynchronously)
vc_wait_listen() { # NETNS PORT [TIMEOUT_S]
  local ns=$1 port=$2 t=${3:-10} i
  for i in $(seq 1 $((t * 20))); do
    if nsenter --net="/run/netns/$ns" ss -Htln "sport = :$port" 2>/dev/null | grep -q LISTEN; then return 0; fi
    sleep 0.05
  done
  return 1
}
