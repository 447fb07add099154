# vcluster meshcut: one node agent per virtual node, in the node's network
# namespace and cgroup (like a hostNetwork DaemonSet pod), with its own bpffs
# directory and Unix socket; meshcut-init registers every meshed pod from the
# pod's own network namespace, as the injected init container would.

VC_MESHCUT_MODE=${VC_MESHCUT_MODE:-full}

vc_meshcut_up() { # [MODE] [AGENT-BINARY]
  local mode=${1-$VC_MESHCUT_MODE} agent=${2:-$VC_BUILD/meshcut-agent} n i name ns cg pins sock
  [ -x "$agent" ] || vc_die "build first: $agent missing (make)"
  n=$(vc_q '.nodes | length')
  for i in $(seq 0 $((n - 1))); do
    read -r name ns cg pins sock < <(vc_q --argjson i "$i" '.nodes[$i] | "\(.name) \(.netns) \(.cgroup) \(.bpffs) \(.agent_socket)"')
    mkdir -p "$(dirname "$sock")"
    spawn "$name.agent" "$cg" "$ns" 0 -- "$agent" --pin-dir "$pins" \
      --cgroup "$cg" --socket "$sock" ${mode:+--mode "$mode"} ${VC_AGENT_ARGS:-}
  done
  for i in $(seq 0 $((n - 1))); do
    sock=$(vc_q --argjson i "$i" '.nodes[$i].agent_socket')
    local t
    for t in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || vc_die "agent of $(vc_q --argjson i "$i" '.nodes[$i].name') did not start (see $VC_STATE/logs)"
  done
  vc_state_set '.meshcut = true'
}

# stop every node's agent with SIGNAL (TERM: a rolling update; KILL: a crash)
# and start AGENT-BINARY in its place: it adopts what is pinned. MODE: the
# --mode flag it starts with, as a DaemonSet passes the chart's value at every
# start (none: the agent keeps the mode that is pinned)
vc_meshcut_restart_agents() { # SIGNAL [AGENT-BINARY] [MODE]
  local sig=${1:-TERM} agent=${2:-$VC_BUILD/meshcut-agent} mode=${3:-} n i name pid sock
  n=$(vc_q '.nodes | length')
  for i in $(seq 0 $((n - 1))); do
    read -r name sock < <(vc_q --argjson i "$i" '.nodes[$i] | "\(.name) \(.agent_socket)"')
    pid=$(cat "$VC_STATE/pids/$name.agent.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      kill "-$sig" "$pid" 2>/dev/null || true
      while vc_alive "$pid"; do sleep 0.05; done
    fi
    rm -f "$sock"
  done
  vc_meshcut_up "$mode" "$agent" # "": keep the mode that is pinned
}

# the CLI on NODE's agent (every node's one after the other: all), from the
# node's network namespace: an operator's kubectl exec into the agent's pod.
# Admin calls (mode, backlog-limit, monitor, pods, deregister) from anywhere
# else get 403.
vc_meshcut_cli() { # NODE|all ARGS...
  local want=$1 name ns sock rc=0 found=
  shift
  while read -r name ns sock; do
    [ "$want" = all ] || [ "$want" = "$name" ] || continue
    found=1
    nsenter --net="/run/netns/$ns" -- "$VC_BUILD/meshcut" --socket "$sock" "$@" || rc=$?
  done < <(vc_q '.nodes[] | "\(.name) \(.netns) \(.agent_socket)"')
  [ -n "$found" ] || vc_die "no node named $want"
  return $rc
}

vc_meshcut_register() { # POD-INDEX
  local i=$1 pod ns cg ip sock inb incl outb cidrs appsock appreads args
  # one jq for all of it; empty lists come out as "-" so that read keeps the fields apart.
  # Inbound exclusions are what istio-init's -d holds (Istio's 15090,15021,15020
  # and the pod's own), passed as the Istio injection template passes them,
  # also beside an include list: meshcut-init must cope with the pair
  read -r pod ns cg ip sock inb incl outb cidrs appsock appreads < <(vc_q --argjson i "$i" '
    . as $c | .pods[$i] as $p
    | def csv: if length == 0 then "-" else map(tostring) | join(",") end;
    "\($p.name) \($p.netns) \($p.cgroup) \($p.ip) \($c.nodes[] | select(.name == $p.node) | .agent_socket) \([15090, 15021, 15020] + $p.exclude_inbound_ports | csv) \($p.include_inbound_ports | if . == "*" then "*" else csv end) \($p.exclude_outbound_ports | csv) \($p.exclude_outbound_cidrs | csv) \($p.app_sockets) \($p.app_reads)"')
  [ "$inb" = - ] && inb=""; [ "$incl" = - ] && incl=""; [ "$outb" = - ] && outb=""; [ "$cidrs" = - ] && cidrs=""
  args=(--socket "$sock" --pod-name "$pod" --pod-namespace default --pod-ips "$ip" --required)
  args+=(--exclude-inbound-ports "$inb")
  args+=(--include-inbound-ports "$incl")
  args+=(--exclude-outbound-ports "$outb")
  args+=(--exclude-outbound-cidrs "$cidrs")
  args+=(--app-sockets "$appsock")
  args+=(--app-reads "$appreads")
  # the init container runs in the pod's network namespace (and cgroup)
  ( echo "$BASHPID" >"$cg/cgroup.procs"
    exec nsenter --net="/run/netns/$ns" -- "$VC_BUILD/meshcut-init" "${args[@]}" ) \
    >>"$VC_STATE/logs/$pod.init.log" 2>&1 ||
    vc_die "meshcut-init failed in pod $pod (see $VC_STATE/logs/$pod.init.log)"
}

vc_meshcut_register_all() {
  local i
  for i in $(vc_q '.pods | to_entries[] | select(.value.meshed) | .key'); do
    vc_meshcut_register "$i"
  done
  return 0
}

# stop the agents (SIGTERM keeps the datapath) and uninstall it: drain, detach, unpin
vc_meshcut_down() {
  local n i name pins
  [ -f "$VC_STATE_JSON" ] || return 0
  n=$(vc_q '.nodes | length')
  for i in $(seq 0 $((n - 1))); do
    read -r name pins < <(vc_q --argjson i "$i" '.nodes[$i] | "\(.name) \(.bpffs)"')
    vc_stop "$name.agent"
    if [ -d "$pins" ]; then
      "$VC_BUILD/meshcut-agent" --uninstall --pin-dir "$pins" --drain-timeout "${VC_DRAIN_TIMEOUT:-10}" \
        >>"$VC_STATE/logs/$name.uninstall.log" 2>&1 || vc_log "uninstall on $name reported a problem (see $VC_STATE/logs/$name.uninstall.log)"
    fi
  done
  vc_state_set '.meshcut = false'
}

vc_state_set() { # JQ-UPDATE
  local tmp
  tmp=$(jq "$1" "$VC_STATE_JSON") && printf '%s\n' "$tmp" >"$VC_STATE_JSON"
}
