# vcluster traffic capture: Istio's istio-init rules for meshed pods, exactly as
# `istio-iptables -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -b '*'
# -d 15090,15021,15020` writes them (Istio 1.25+, see shared notes istio.md), plus
# the pod's traffic.sidecar.istio.io exclusions; kube-proxy-like DNAT for
# unmeshed pods so service VIPs still resolve.
# A pod with include_inbound_ports (includeInboundPorts, -b 8080,9090) gets
# what istio-iptables writes for a list (run.go, handleInboundPortsInclude):
# one ISTIO_IN_REDIRECT rule per listed port and no RETURN rules for -d, which
# plays no part then; with an empty list, no PREROUTING jump at all.

vc_istio_rules() { # POD-INDEX -> iptables-restore input
  local i=$1 p incl
  incl=$(vc_q --argjson i "$i" '.pods[$i].include_inbound_ports | if . == "*" then "*" else map(tostring) | join(" ") end')
  echo '*nat'
  echo ':PREROUTING ACCEPT [0:0]'
  echo ':INPUT ACCEPT [0:0]'
  echo ':OUTPUT ACCEPT [0:0]'
  echo ':POSTROUTING ACCEPT [0:0]'
  echo ':ISTIO_INBOUND - [0:0]'
  echo ':ISTIO_IN_REDIRECT - [0:0]'
  echo ':ISTIO_OUTPUT - [0:0]'
  echo ':ISTIO_REDIRECT - [0:0]'
  echo '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN'
  echo '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001'
  echo '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'
  if [ "$incl" = "*" ]; then
    echo '-A PREROUTING -p tcp -j ISTIO_INBOUND'
    for p in 15090 15021 15020 $(vc_q --argjson i "$i" '.pods[$i].exclude_inbound_ports[]'); do
      echo "-A ISTIO_INBOUND -p tcp --dport $p -j RETURN"
    done
    echo '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT'
  elif [ -n "$incl" ]; then
    echo '-A PREROUTING -p tcp -j ISTIO_INBOUND'
    for p in $incl; do
      echo "-A ISTIO_INBOUND -p tcp --dport $p -j ISTIO_IN_REDIRECT"
    done
  fi
  echo '-A OUTPUT -j ISTIO_OUTPUT'
  for p in $(vc_q --argjson i "$i" '.pods[$i].exclude_outbound_ports[]'); do
    echo "-A ISTIO_OUTPUT -p tcp --dport $p -j RETURN"
  done
  echo '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN'
  echo '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT'
  echo '-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN'
  echo '-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN'
  echo '-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT'
  echo '-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN'
  echo '-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN'
  echo '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN'
  for p in $(vc_q --argjson i "$i" '.pods[$i].exclude_outbound_cidrs[]'); do
    echo "-A ISTIO_OUTPUT -d $p -j RETURN"
  done
  echo '-A ISTIO_OUTPUT -j ISTIO_REDIRECT'
  echo 'COMMIT'
}

# Unmeshed pods: each service VIP is DNATed in the pod's own OUTPUT chain, round
# robin over its endpoints (kube-proxy's statistic/nth scheme). Node-side DNAT
# would not see pod-to-pod traffic on one bridge without br_netfilter tricks.
vc_dnat_rules() {
  vc_q '
    [ "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
      ":POSTROUTING ACCEPT [0:0]", ":VC_SERVICES - [0:0]", "-A OUTPUT -j VC_SERVICES",
      ( .services | to_entries[] | select(.value.endpoints | length > 0) | .key as $s | .value as $svc
        | ($svc.endpoints | length) as $n
        | ":VC_SVC_\($s) - [0:0]",
          "-A VC_SERVICES -d \($svc.vip)/32 -p tcp --dport \($svc.port) -j VC_SVC_\($s)",
          ( $svc.endpoints | to_entries[] | .key as $k
            | if $k < $n - 1
              then "-A VC_SVC_\($s) -p tcp -m statistic --mode nth --every \($n - $k) --packet 0 -j DNAT --to-destination \(.value.ip):\(.value.port)"
              else "-A VC_SVC_\($s) -p tcp -j DNAT --to-destination \(.value.ip):\(.value.port)" end ) ),
      "COMMIT" ] | .[]'
}

vc_apply_capture() { # POD-INDEX
  local i=$1 ns meshed
  read -r ns meshed < <(vc_q --argjson i "$i" '.pods[$i] | "\(.netns) \(.meshed)"')
  if [ "$meshed" = true ]; then
    vc_istio_rules "$i" | ip netns exec "$ns" iptables-restore
  else
    vc_dnat_rules | ip netns exec "$ns" iptables-restore
  fi
}
