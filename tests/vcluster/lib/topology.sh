# vcluster topology: validate a topology file and resolve it into the cluster
# state (addresses, names, endpoints) that every other step reads.
#
# Topology file (JSON):
#   nodes:    ["node1", "node2"]
#   cni:      "bridge" (default: cni0 bridge) | "routed" (calico-like, no bridge)
#   services: [{name, vip, port, proto: http|h2|tcp}]  (h2: HTTP/2 between sidecars)
#   pods:     [{name, node, meshed, service?, port?, upstreams?: [service...],
#               body?, delay_us?, exclude_inbound_ports?, exclude_outbound_ports?,
#               exclude_outbound_cidrs?, include_inbound_ports?: "*" | [port...],
#               app_sockets?: shortcut|tcp, app_reads?: any|recv}]
#           (app_sockets: the pod's meshcut.io/app-sockets annotation;
#            app_reads: its meshcut.io/app-reads annotation;
#            include_inbound_ports: traffic.sidecar.istio.io/includeInboundPorts,
#            istio-iptables -b: "*" (default) captures every inbound port but the
#            excluded ones, a list only those ports, [] none)
# Node i (1-based) gets pod CIDR 10.244.i.0/24 (flannel host-local style), bridge
# cni0 at 10.244.i.1, VTEP flannel.1 at 10.244.i.0, underlay 192.168.255.i/24.

vc_resolve_topology() { # FILE PLACEMENT MESH TLS MESHCUT -> state JSON on stdout
  local file=$1 placement=$2 mesh=$3 tls=$4 meshcut=$5 cgroot
  cgroot=$(vc_cgroup_root)
  jq -e . "$file" >/dev/null 2>&1 || vc_die "topology $file is not valid JSON"
  jq --arg prefix "$VC_NAME" --arg file "$file" --arg placement "$placement" \
     --arg cg "$cgroot" --arg pins "$VC_PIN_ROOT" --arg state "$VC_STATE" \
     --argjson mesh "$mesh" --argjson tls "$tls" --argjson meshcut "$meshcut" '
    def fail(m): error("topology: " + m);
    . as $t
    | ($t.nodes // fail("no nodes")) as $nodes
    | if ($nodes | length) < 1 or ($nodes | length) > 2 then fail("1 or 2 nodes") else . end
    | if ($t.cni // "bridge") as $c | ["bridge", "routed"] | index($c) | not then fail("cni: bridge or routed") else . end
    | ($t.pods // fail("no pods")) as $pods0
    # placement: "one-node" puts every pod on the first node; "two-nodes"
    # keeps a topology that uses both nodes, and otherwise moves every pod
    # serving a service other than the entry to the second node (two-hop:
    # leaf), so that the calls behind the entry cross nodes; "topology" keeps
    # the file'"'"'s placement
    | ($t.entry // $t.services[0].name) as $entry
    | if $placement == "two-nodes" and ($nodes | length) < 2 then fail("placement two-nodes needs two nodes") else . end
    | ($pods0 | map(.node) | unique | length) as $used
    | ($pods0 | map(
        if $placement == "one-node" then .node = $nodes[0]
        elif $placement == "two-nodes" and $used < 2 and (.service // null) != null and .service != $entry
        then .node = $nodes[1] else . end)) as $pods1
    | ($pods1 | map(.name)) as $names
    | if ($names | unique | length) != ($names | length) then fail("duplicate pod names") else . end
    | if ([$names[] | select(. as $n | $nodes | index($n))] | length) > 0 then fail("a pod is named like a node") else . end
    | if ($names | map(.[0:13]) | unique | length) != ($names | length) then fail("pod names must differ in their first 13 characters (host veth names)") else . end
    | ($pods1 | map(select(.node as $n | ($nodes | index($n)) == null)) | map(.name)) as $bad
    | if ($bad | length) > 0 then fail("pods on unknown nodes: " + ($bad | join(","))) else . end
    | [ $nodes | to_entries[] | {
          name: .value, index: (.key + 1),
          netns: ($prefix + "-" + .value),
          cgroup: ($cg + "/" + .value),
          bpffs: ($pins + "/" + .value),
          agent_socket: ($state + "/" + .value + "/agent.sock"),
          pod_cidr: ("10.244." + ((.key + 1) | tostring) + ".0/24"),
          bridge_ip: ("10.244." + ((.key + 1) | tostring) + ".1"),
          vtep_ip: ("10.244." + ((.key + 1) | tostring) + ".0"),
          vtep_mac: ("0e:6d:63:00:00:0" + ((.key + 1) | tostring)),
          underlay_ip: ("192.168.255." + ((.key + 1) | tostring))
        } ] as $N
    | ($t.services // []) as $S
    | [ $N[] as $n
        | [ $pods1[] | select(.node == $n.name) ] | to_entries[]
        | .value + {
            ip: (.value.ip // ("10.244." + ($n.index | tostring) + "." + ((.key + 10) | tostring))),
            netns: ($prefix + "-" + .value.name),
            host_veth: ("v-" + .value.name[0:13]),
            cgroup: ($n.cgroup + "/" + .value.name),
            meshed: ((.value.meshed // true) and $mesh),
            meshed_in_topology: (.value.meshed // true),
            body: (.value.body // 64),
            delay_us: (.value.delay_us // 0),
            upstreams: (.value.upstreams // []),
            exclude_inbound_ports: (.value.exclude_inbound_ports // []),
            exclude_outbound_ports: (.value.exclude_outbound_ports // []),
            exclude_outbound_cidrs: (.value.exclude_outbound_cidrs // []),
            include_inbound_ports: (.value.include_inbound_ports // "*"),
            app_sockets: (.value.app_sockets // "shortcut"),
            app_reads: (.value.app_reads // "any")
          } ] as $P
    | ($P | map(select(.include_inbound_ports | . != "*" and (type != "array" or any(.[]; type != "number"))))
          | map(.name)) as $badinc
    | if ($badinc | length) > 0 then fail("include_inbound_ports must be \"*\" or a list of ports: " + ($badinc | join(","))) else . end
    | ($P | map(select(.upstreams[] as $u | ($S | map(.name) | index($u)) == null)) | map(.name)) as $badup
    | if ($badup | length) > 0 then fail("unknown upstream service in pods: " + ($badup | join(","))) else . end
    | {
        name: $prefix, topology: $file, placement: $placement,
        mesh: $mesh, tls: $tls, meshcut: $meshcut, cni: ($t.cni // "bridge"),
        state_dir: $state, cgroup_root: $cg, pin_root: $pins,
        nodes: $N,
        services: [ $S[] as $s | $s + {
            proto: ($s.proto // "http"),
            endpoints: [ $P[] | select(.service == $s.name) | {pod: .name, node, ip, port: (.port // $s.port)} ]
          } ],
        pods: [ $P[] | . + {
            proto: (.service as $sn | ($S[] | select(.name == $sn) | .proto) // "http"),
            upstream_addrs: [ .upstreams[] as $u | $S[] | select(.name == $u) | "\(.vip):\(.port)" ]
          } ]
      }
  ' "$file"
}
