# vcluster network: nodes (netns + cni0 bridge + flannel.1 VXLAN over an underlay
# veth), pods (netns + eth0 veth to their node's bridge), like flannel's vxlan
# backend with the bridge CNI plugin and host-local IPAM. Topology "cni":
# "routed" builds calico-like nodes instead: no bridge, per-pod /32 routes to
# the host veths, the gateway 169.254.1.1 answered by proxy ARP.

vc_sysctl() { # NETNS KEY VALUE
  ip netns exec "$1" sysctl -q -w "$2=$3" >/dev/null
}

vc_build_node() { # NODE-INDEX (0-based)
  local i=$1 name ns cidr bridge_ip vtep_ip vtep_mac ul_ip
  read -r name ns bridge_ip vtep_ip vtep_mac ul_ip < <(vc_q --argjson i "$i" \
    '.nodes[$i] | "\(.name) \(.netns) \(.bridge_ip) \(.vtep_ip) \(.vtep_mac) \(.underlay_ip)"')
  cidr=$(vc_q --argjson i "$i" '.nodes[$i].pod_cidr')
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  vc_sysctl "$ns" net.ipv4.ip_forward 1
  vc_sysctl "$ns" net.ipv6.conf.all.forwarding 1
  # kubeadm requires bridged traffic to traverse iptables (kube-proxy, policy)
  vc_sysctl "$ns" net.bridge.bridge-nf-call-iptables 1 2>/dev/null || true
  # kube-proxy's filter rule (iptables mode, KUBE-FORWARD): drop what the
  # node's conntrack calls INVALID. Being a conntrack user, it also makes the
  # kernel track every forwarded and bridged packet in this netns from the
  # start, as on a real node; without one the node tracks nothing
  ip netns exec "$ns" iptables -w -N KUBE-FORWARD
  ip netns exec "$ns" iptables -w -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
  ip netns exec "$ns" iptables -w -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
  if [ "$(vc_q .cni)" = routed ]; then
    # routed CNI (calico-like): no bridge; each pod's /32 is routed to its host
    # veth, the node's own block is a blackhole behind them, and the pods'
    # gateway 169.254.1.1 is answered by proxy ARP (it needs a route here)
    ip -n "$ns" route add blackhole "$cidr"
    ip -n "$ns" route add 169.254.1.1/32 dev lo
  else
    ip -n "$ns" link add cni0 type bridge
    ip -n "$ns" link set cni0 mtu 1450
    ip -n "$ns" addr add "$bridge_ip/24" dev cni0
    ip -n "$ns" link set cni0 up
  fi
  mkdir -p "$(vc_q --argjson i "$i" '.nodes[$i].cgroup')" "$VC_STATE/$name"
  : "$cidr"
}

# underlay: the two nodes are joined by a veth pair (ul0 <-> ul0), like two hosts
# on one link; flannel.1 is a VXLAN device over it.
vc_build_underlay() {
  local n i j name ns ul_ip vtep_mac
  n=$(vc_q '.nodes | length')
  [ "$n" = 2 ] || return 0
  ip link add ul0 netns "$(vc_q '.nodes[0].netns')" type veth peer name ul0 netns "$(vc_q '.nodes[1].netns')"
  for i in 0 1; do
    read -r name ns ul_ip vtep_mac < <(vc_q --argjson i "$i" '.nodes[$i] | "\(.name) \(.netns) \(.underlay_ip) \(.vtep_mac)"')
    ip -n "$ns" addr add "$ul_ip/24" dev ul0
    ip -n "$ns" link set ul0 up
    ip -n "$ns" link add flannel.1 type vxlan id 1 local "$ul_ip" dev ul0 dstport 8472 nolearning
    ip -n "$ns" link set flannel.1 address "$vtep_mac" mtu 1450
    ip -n "$ns" addr add "$(vc_q --argjson i "$i" '.nodes[$i].vtep_ip')/32" dev flannel.1
    ip -n "$ns" link set flannel.1 up
  done
  # what flannel programs for the other node: route via its VTEP, ARP and FDB entries
  local other_cidr other_vtep other_mac other_ul
  for i in 0 1; do
    j=$((1 - i))
    ns=$(vc_q --argjson i "$i" '.nodes[$i].netns')
    read -r other_cidr other_vtep other_mac other_ul < <(vc_q --argjson j "$j" \
      '.nodes[$j] | "\(.pod_cidr) \(.vtep_ip) \(.vtep_mac) \(.underlay_ip)"')
    ip -n "$ns" route add "$other_cidr" via "$other_vtep" dev flannel.1 onlink
    ip -n "$ns" neigh add "$other_vtep" lladdr "$other_mac" dev flannel.1 nud permanent
    bridge -n "$ns" fdb append "$other_mac" dev flannel.1 dst "$other_ul"
  done
}

vc_build_pod() { # POD-INDEX (0-based)
  local i=$1 name node_ns ns ip veth gw
  read -r name ns ip veth < <(vc_q --argjson i "$i" '.pods[$i] | "\(.name) \(.netns) \(.ip) \(.host_veth)"')
  read -r node_ns gw < <(vc_q --argjson i "$i" '.pods[$i].node as $n | .nodes[] | select(.name == $n) | "\(.netns) \(.bridge_ip)"')
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip link add "$veth" netns "$node_ns" type veth peer name eth0 netns "$ns"
  if [ "$(vc_q .cni)" = routed ]; then
    ip -n "$node_ns" link set "$veth" mtu 1450 up
    ip netns exec "$node_ns" sysctl -q -w "net/ipv4/conf/$veth/proxy_arp=1" "net/ipv4/neigh/$veth/proxy_delay=0" >/dev/null
    ip -n "$node_ns" route add "$ip/32" dev "$veth" scope link
    ip -n "$ns" link set eth0 mtu 1450 up
    ip -n "$ns" addr add "$ip/32" dev eth0
    ip -n "$ns" route add 169.254.1.1 dev eth0 scope link
    ip -n "$ns" route add default via 169.254.1.1 dev eth0
  else
    ip -n "$node_ns" link set "$veth" mtu 1450 master cni0 up
    ip -n "$ns" link set eth0 mtu 1450 up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" route add default via "$gw" dev eth0
  fi
  mkdir -p "$(vc_q --argjson i "$i" '.pods[$i].cgroup')"
}
