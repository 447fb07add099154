#!/usr/bin/env bash
# Registration security (issue: a pod can register only itself). In a virtual
# cluster with meshcut, pod A (client2) tries to register pod B's (ds) IP, B's
# host veth, a veth that does not exist, node veths that belong to no pod, a
# wrong MAC, B's netns cookie, B's IP added to its own interfaces: each is
# refused with its own message, and B's traffic still goes through meshcut as
# B's. The identity is the socket's network namespace: a socket handed to a
# process in another namespace (the connecting process exits, its PID can be
# reused) still speaks for A. Malformed, oversized, truncated and slow requests
# get a 4xx or a closed connection while other pods register; the rate limit
# answers 429; meshcut-init exits 3 (agent absent) and 4 (refused) with
# --required, 0 without.
# Admin calls (mode, config, /v1/monitor, every pod's registration) are served
# only to uid 0 in the agent's own network namespace: not to a pod's root (even
# after it deregistered its pod), another namespace's, the host's, or a non-root
# user's; a pod lists only its own registration; the TCP listener serves no /v1.
# A name is a label: a pod that takes another's name evicts nobody. A
# registration goes when its network namespace goes, with or without a host
# veth, while the agent runs or while it was stopped (netnsids, also reused
# ones), and an IP whose namespace no longer carries it can be registered again.
#
# Why a PID never matters: the agent identifies a caller by the network
# namespace of the accepted Unix socket (SO_NETNS_COOKIE, SIOCGSKNS), which the
# kernel fixes when the connecting socket is created. It never looks up the
# peer's PID (SO_PEERCRED gives only the uid, for admin calls), so a caller
# that exits, a recycled PID or a process that inherits the socket cannot
# make the connection speak for another namespace.
. "$(dirname "$0")/lib.sh"
require_root
vc_test_cluster mcsec
STRAY=mcsec-stray G=mcsec-gone HOLD=
cleanup_sec() {
  local n
  [ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null
  for n in "$STRAY" $(ip netns list | awk -v g="$G" 'index($1, g) == 1 { print $1 }'); do ip netns del "$n" 2>/dev/null; done
  vc_test_cleanup
}
trap cleanup_sec EXIT
TEST_TMP=$(mktemp -d)

# --- a raw Unix-socket client (socat is not installed): perl, IO::Socket::UNIX
cat >"$TEST_TMP/sock.pl" <<'PERL'
use strict; use warnings;
use IO::Socket::UNIX; use Socket; use Fcntl; use POSIX ();
use Time::HiRes qw(time sleep);
$SIG{PIPE} = 'IGNORE';
$| = 1;
my $cmd = shift;
sub conn { IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $_[0]) or die "connect $_[0]: $!\n" }
sub slurp { local $/; open(my $f, '<', $_[0]) or die "$_[0]: $!\n"; binmode $f; <$f> }
# write all, tolerating a peer that closes early
sub put { my ($s, $d) = @_; my $o = 0;
  while ($o < length $d) { my $w = syswrite($s, $d, length($d) - $o, $o); return 0 unless defined $w; $o += $w }
  return 1 }
# read until end of stream, an error or TMO seconds
sub answer { my ($s, $tmo) = @_; my ($buf, $t0) = ('', time);
  while ((my $left = $tmo - (time - $t0)) > 0) {
    my $rin = ''; vec($rin, fileno($s), 1) = 1;
    last unless select(my $r = $rin, undef, undef, $left) > 0;
    my $n = sysread($s, $buf, 65536, length $buf); last unless $n }
  return ($buf, time - $t0) }
sub report { my ($buf, $el) = @_;
  my ($code) = $buf =~ m{^HTTP/1\.[01] (\d{3})};
  printf "RESULT %s %.1f\n%s\n", $code // 'closed', $el, $buf }

if ($cmd eq 'send') {          # send PATH FILE [shut]: a whole request, then the answer
  my ($path, $file, $shut) = @ARGV;
  my $s = conn($path);
  put($s, slurp($file));
  shutdown($s, 1) if $shut;
  report(answer($s, 12));
} elsif ($cmd eq 'stall') {    # stall PATH FILE: part of a request, then silence
  my $s = conn($ARGV[0]);
  put($s, slurp($ARGV[1]));
  report(answer($s, 15));
} elsif ($cmd eq 'trickle') {  # trickle PATH N GAP SECS: N connections, a byte each per GAP s
  my ($path, $n, $gap, $secs) = @ARGV;
  my @s = map { conn($path) } 1 .. $n;
  { local $| = 1; print "CONNECTED $n\n"; } # the test waits for this
  my $req = "GET /v1/status HTTP/1.1\r\nHost: a\r\nX-Slow: " . ("x" x 4000) . "\r\n\r\n";
  my ($t0, $i, $open) = (time, 0, $n);
  while (time - $t0 < $secs && $i < length $req) {
    $open = 0;
    for my $s (@s) { $open++ if put($s, substr($req, $i, 1)) }
    $i++; sleep $gap }
  # still open: nothing to read yet, not at end of stream
  $open = 0;
  for my $s (@s) { my $rin = ''; vec($rin, fileno($s), 1) = 1;
    my $ready = select(my $r = $rin, undef, undef, 0); $open++ unless $ready && !sysread($s, my $b, 1) }
  printf "TRICKLE %d of %d open after %.1fs\n", $open, $n, time - $t0;
} elsif ($cmd eq 'hand-over') { # hand-over PATH NETNS FILE OUT: connect here, exit; a child
  my ($path, $netns, $file, $out) = @ARGV;  # in NETNS sends FILE on the inherited socket
  my $s = conn($path);
  POSIX::dup2(fileno($s), 3) if fileno($s) != 3;
  open(my $fd3, '+<&=', 3) or die "fd 3: $!\n";
  fcntl($fd3, F_SETFD, 0) or die "fcntl: $!\n";
  my $parent = $$;
  defined(my $pid = fork) or die "fork: $!\n";
  if ($pid) { print "connected in ", readlink("/proc/self/ns/net"), "; pid $$ exits\n"; POSIX::_exit(0) }
  sleep 0.05 while getppid() == $parent;   # the connecting process is gone
  open(STDOUT, '>', $out) or die "$out: $!\n";
  exec('nsenter', "--net=$netns", '--', $^X, $0, 'send-fd3', $file) or die "exec: $!\n";
} elsif ($cmd eq 'send-fd3') { # (the child, now in another namespace)
  open(my $s, '+<&=', 3) or die "fd 3: $!\n";
  print "child in ", readlink("/proc/self/ns/net"), "\n";
  put($s, slurp($ARGV[0]));
  report(answer($s, 12));
}
PERL
oneline() { tr '\n' ' ' <<<"$1" | cut -c1-240; } # for TAP descriptions
# an HTTP request in a file: METHOD PATH BODY -> FILE
http_req() { # FILE METHOD PATH [BODY]
  printf '%s %s HTTP/1.1\r\nHost: meshcut-agent\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$2" "$3" "${#4}" "${4:-}" >"$1"
}
# POST /v1/pods from POD with BODY -> the agent's JSON answer
post_from() { # POD BODY
  vcx "$1" -- curl -s -m 10 --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
    -d "$2" http://meshcut-agent/v1/pods
}
# every pod's registration: an admin call (the node's namespace, uid 0)
pods_json() { nsenter --net="/run/netns/$NODE_NS" -- curl -s -m 10 --unix-socket "$SOCK" http://meshcut-agent/v1/pods; }
pod_entry() { pods_json | jq -c --arg p "default/$1" '.[] | select(.pod == $p)'; }
entry_of() { pods_json | jq -c --argjson c "$1" '.[] | select(.netns_cookie == $c)'; } # COOKIE
# refuse: DESCRIPTION STATUS EXPECTED-MESSAGE ANSWER
expect_refusal() {
  local st msg
  st=$(jq -r .status <<<"$4" 2>/dev/null); msg=$(jq -r '.error // .message' <<<"$4" 2>/dev/null)
  if [ "$st" = "$2" ] && [ "$msg" = "$3" ]; then ok "$1 ($2: $msg)"; else not_ok "$1 (expected $2 '$3', got: $4)"; fi
}

"$VC" up --topology "$ROOT/tests/topologies/edge.json" --meshcut >"$TEST_TMP/up.log" 2>&1 ||
  { not_ok "up"; sed 's/^/# /' "$TEST_TMP/up.log"; tap_done; exit 1; }
ok "virtual cluster with meshcut is up; every pod registered through verification"
SOCK=$(node_sock node1)
NODE_NS=$(node_netns node1)
A=client2 B=ds
A_IP=$(pod_ip $A) B_IP=$(pod_ip $B)
A_NS=/run/netns/$(pod_netns $A) B_NS=/run/netns/$(pod_netns $B)
A_VETH=$(ip -n "$NODE_NS" -j link show "v-$A" | jq '.[0].ifindex')
B_VETH=$(ip -n "$NODE_NS" -j link show "v-$B" | jq '.[0].ifindex')
A_MAC=$(ip -n "$(pod_netns $A)" -j link show eth0 | jq -r '.[0].address')
A_ETH0=$(ip -n "$(pod_netns $A)" -j link show eth0 | jq '.[0].ifindex')
A_EXCL=$("$VC" status --json | jq -r --arg p $A '.pods[] | select(.name == $p) | .exclude_outbound_ports | map(tostring) | join(",")')
A_before=$(pod_entry $A) B_before=$(pod_entry $B)
# the inbound ports A's registration excludes (Istio's own, as meshcut-init sent them)
A_EXCL_IN=$(jq -r '.exclude_inbound_ports | map(tostring) | join(",")' <<<"$A_before")
A_COOKIE=$(jq .netns_cookie <<<"$A_before") B_COOKIE=$(jq .netns_cookie <<<"$B_before")
diag "attacker $A ($A_IP, veth $A_VETH, netns $A_COOKIE); victim $B ($B_IP, veth $B_VETH, netns $B_COOKIE)"
expect_eq "the victim is registered with its own veth" "$B_VETH" "$(jq .host_ifindex <<<"$B_before")"

# --- every claim of someone else's is refused, each with its own message
a_body() { # extra JSON members for A's own, otherwise valid registration
  echo "{\"namespace\": \"default\", \"name\": \"$A\", \"ips\": [\"${IP:-$A_IP}\"]${1:+, $1}}"
}
out=$(vcx $A -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name $A --pod-namespace default \
  --pod-ips "$B_IP" --required 2>&1); rc=$?
expect_eq "meshcut-init claiming B's IP from A: exit 4 (refused, --required)" 4 "$rc"
check "... and it prints the agent's reason: $(oneline "$out")" grep -qF \
  "refused to register pod default/$A (HTTP 403): ips: $B_IP is not configured in the caller's network namespace" <<<"$out"
expect_refusal "A claims B's host veth" 403 \
  "host_ifindex: $B_VETH (v-$B) is the host side of another namespace's interface (netnsid $(ip -n "$NODE_NS" -j link show "v-$B" | jq '.[0].link_netnsid'), the caller is $(ip -n "$NODE_NS" -j link show "v-$A" | jq '.[0].link_netnsid'))" \
  "$(post_from $A "$(a_body "\"host_ifindex\": $B_VETH")")"
expect_refusal "A claims a veth that does not exist" 403 "host_ifindex: 99999 does not exist on this node" \
  "$(post_from $A "$(a_body '"host_ifindex": 99999')")"
# a veth of the node that belongs to no pod: its peer is in a namespace we make
ip netns add "$STRAY"
ip link add mcs-stray0 netns "$NODE_NS" type veth peer name eth0 netns "$STRAY"
ip -n "$STRAY" link set eth0 up && ip -n "$STRAY" addr add "$A_IP/32" dev eth0 # even with A's IP there
STRAY_VETH=$(ip -n "$NODE_NS" -j link show mcs-stray0 | jq '.[0].ifindex')
STRAY_NSID=$(ip -n "$NODE_NS" -j link show mcs-stray0 | jq '.[0].link_netnsid')
A_NSID=$(ip -n "$NODE_NS" -j link show "v-$A" | jq '.[0].link_netnsid')
expect_refusal "A claims a node veth whose peer is in a namespace of no pod" 403 \
  "host_ifindex: $STRAY_VETH (mcs-stray0) is the host side of another namespace's interface (netnsid $STRAY_NSID, the caller is $A_NSID)" \
  "$(post_from $A "$(a_body "\"host_ifindex\": $STRAY_VETH")")"
ip -n "$NODE_NS" link add mcs-loc0 type veth peer name mcs-loc1
LOC_VETH=$(ip -n "$NODE_NS" -j link show mcs-loc0 | jq '.[0].ifindex')
expect_refusal "A claims a node veth whose both ends are on the node" 403 \
  "host_ifindex: $LOC_VETH (mcs-loc0) is a veth whose peer is on this node, not in the caller's network namespace" \
  "$(post_from $A "$(a_body "\"host_ifindex\": $LOC_VETH")")"
ip -n "$NODE_NS" link del mcs-loc0
CNI=$(ip -n "$NODE_NS" -j link show cni0 | jq '.[0].ifindex')
expect_refusal "A claims the node's bridge" 403 "host_ifindex: $CNI (cni0) is not a veth (bridge)" \
  "$(post_from $A "$(a_body "\"host_ifindex\": $CNI")")"
expect_refusal "A claims a MAC that is not its eth0's" 403 \
  "mac: 02:00:00:00:00:01 is not the MAC of the caller's eth0 (ifindex $A_ETH0, which has $A_MAC)" \
  "$(post_from $A "$(a_body "\"host_ifindex\": $A_VETH, \"mac\": \"02:00:00:00:00:01\"")")"
expect_refusal "A claims B's netns cookie" 403 \
  "netns_cookie: the claim $B_COOKIE is not the caller's network namespace ($A_COOKIE)" \
  "$(post_from $A "$(a_body "\"netns_cookie\": $B_COOKIE")")"
expect_refusal "A claims a loopback address" 403 "ips: 127.0.0.1 is a loopback address, not a pod IP" \
  "$(post_from $A "$(IP=127.0.0.1 a_body)")"
expect_refusal "A claims B's name (its namespace is already A's)" 409 \
  "this network namespace is already registered as pod default/$A" \
  "$(post_from $A "{\"namespace\": \"default\", \"name\": \"$B\", \"ips\": [\"$A_IP\"]}")"
# IPv6 claims are checked the same way
v6_body() { echo "{\"namespace\": \"default\", \"name\": \"$A\", \"ips\": [\"$A_IP\", \"$1\"], \"host_ifindex\": $A_VETH}"; }
expect_refusal "A claims an IPv6 address it does not have" 403 \
  "ips: fd00:5ec::12 is not configured in the caller's network namespace" "$(post_from $A "$(v6_body fd00:5ec::12)")"
expect_refusal "A claims an IPv6 link-local address" 403 "ips: fe80::1 is a link-local address, not a pod IP" \
  "$(post_from $A "$(v6_body fe80::1)")"
ip -n "$(pod_netns $A)" addr add fd00:5ec::11/64 dev eth0 nodad
ans=$(post_from $A "$(v6_body fd00:5ec::11)")
check "A registers dual-stack with the IPv6 address on its eth0 ($(jq -r .message <<<"$ans"))" \
  sh -c "[ '$(jq .status <<<"$ans")' = 200 ] && $(mc_admin_cmd node1) pods --json | jq -e '.[] | select(.pod == \"default/$A\") | .ips == [\"$A_IP\", \"fd00:5ec::11\"]' >/dev/null"
ip -n "$(pod_netns $A)" addr del fd00:5ec::11/64 dev eth0
expect_refusal "... and once the address is gone, the claim is refused" 403 \
  "ips: fd00:5ec::11 is not configured in the caller's network namespace" "$(post_from $A "$(v6_body fd00:5ec::11)")"
# A puts B's IP on its own interfaces (it would need CAP_NET_ADMIN in its pod)
ip -n "$(pod_netns $A)" addr add "$B_IP/32" dev lo
expect_refusal "A adds B's IP to its loopback and claims it" 403 \
  "ips: $B_IP is configured only on a loopback interface in the caller's network namespace, not on its network interface" \
  "$(post_from $A "$(IP=$B_IP a_body)")"
ip -n "$(pod_netns $A)" addr del "$B_IP/32" dev lo
ip -n "$(pod_netns $A)" addr add "$B_IP/32" dev eth0
expect_refusal "A adds B's IP to its eth0 and claims it: B holds it (registry)" 409 \
  "ips: $B_IP is registered to pod default/$B (netns $B_COOKIE)" \
  "$(post_from $A "$(IP=$B_IP a_body "\"host_ifindex\": $A_VETH")")"
ip -n "$(pod_netns $A)" addr del "$B_IP/32" dev eth0
out=$(vcx node1 -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name $A --pod-namespace default \
  --pod-ips "$A_IP" --interface cni0 --required 2>&1); rc=$?
check "registering from the node's own namespace is refused (exit $rc: $(oneline "$out"))" \
  sh -c "[ $rc = 4 ] && grep -q \"not the node's\" <<'EOF'
$out
EOF"

# --- a socket speaks for the namespace it was made in, whoever holds it now
http_req "$TEST_TMP/claim-b.http" POST /v1/pods \
  "{\"namespace\": \"default\", \"name\": \"$B\", \"ips\": [\"$B_IP\"], \"host_ifindex\": $B_VETH}"
rm -f "$TEST_TMP/handover.out"
vcx $A -- perl "$TEST_TMP/sock.pl" hand-over "$SOCK" "$B_NS" "$TEST_TMP/claim-b.http" "$TEST_TMP/handover.out" >/dev/null
wait_for 100 grep -qs "^RESULT" "$TEST_TMP/handover.out"
diag "$(head -1 "$TEST_TMP/handover.out")"
check "A connects and exits; a child now in B's namespace claims B on A's socket: refused as A" \
  grep -qF "\"error\": \"ips: $B_IP is not configured in the caller's network namespace\"" "$TEST_TMP/handover.out"
check "... and the agent answers with A's netns cookie, not B's" grep -q "\"netns_cookie\": $A_COOKIE" "$TEST_TMP/handover.out"
check "... the child really ran in B's namespace" grep -qF "child in $(nsenter --net="$B_NS" readlink /proc/self/ns/net)" "$TEST_TMP/handover.out"
# and A's own claim (as meshcut-init made it), sent from B's namespace on A's
# socket, refreshes A (not B)
http_req "$TEST_TMP/claim-a.http" POST /v1/pods \
  "$(a_body "\"host_ifindex\": $A_VETH, \"mac\": \"$A_MAC\", \"exclude_outbound_ports\": \"$A_EXCL\", \"exclude_inbound_ports\": \"$A_EXCL_IN\", \"netns_cookie\": $A_COOKIE")"
rm -f "$TEST_TMP/handover.out"
vcx $A -- perl "$TEST_TMP/sock.pl" hand-over "$SOCK" "$B_NS" "$TEST_TMP/claim-a.http" "$TEST_TMP/handover.out" >/dev/null
wait_for 100 grep -qs "^RESULT" "$TEST_TMP/handover.out"
check "the same hand-over with A's own claim refreshes A" grep -qF "refreshed pod default/$A" "$TEST_TMP/handover.out"

# --- after all that, A and B are registered exactly as before
A_after=$(pod_entry $A) B_after=$(pod_entry $B)
expect_eq "B's registration is unchanged (netns, IP, veth, MAC, policy)" "$B_before" "$B_after"
expect_eq "A's registration is unchanged" "$A_before" "$A_after"
check "meshcut pods lists B with its IP and veth" sh -c "$(mc_admin_cmd node1) pods | grep -E '^default/$B +$B_IP +$B_COOKIE +$B_VETH '"
# B's traffic still goes through meshcut as B's: CLIENT's calls to B are
# redirected pair by pair (its own outbound pair too) and B's pod sends no TCP data
b_still_shortcut() { # WHEN CLIENT
  local url="http://$(svc_addr $B)/" r0 r1 d0 d1 res n di dn do
  vcx "$2" -- "$BUILD/tests/meshload" --url "$url" -c 1 -d 0.3 --warmup 0.2 --json >/dev/null
  r0=$(stats_json node1 | jq -c .redirected); d0=$(pod_data_segs $B)
  res=$(vcx "$2" -- "$BUILD/tests/meshload" --url "$url" -c 1 -d 1 --warmup 0 --json)
  r1=$(stats_json node1 | jq -c .redirected); d1=$(pod_data_segs $B)
  n=$(jq '.requests + .warmup_requests' <<<"$res")
  di=$(( $(jq .inbound <<<"$r1") - $(jq .inbound <<<"$r0") ))
  dn=$(( $(jq .node_local <<<"$r1") - $(jq .node_local <<<"$r0") ))
  do=$(( $(jq .outbound <<<"$r1") - $(jq .outbound <<<"$r0") ))
  diag "$1: $n requests from $2 to $B; redirected outbound $do, sidecar-to-sidecar $dn, inbound $di; $B sent $((d1 - d0)) TCP data segments"
  expect_eq "$1: requests from $2 to B all succeed" 0 "$(jq '.errors // 0' <<<"$res")"
  check "$1: B's inbound pairs are redirected as before (2 messages per request)" test "$di" -ge $((2 * n - 4))
  check "$1: the $2-to-B sidecar pairs are redirected as before" test "$dn" -ge $((2 * n - 4))
  check "$1: $2's outbound pairs are redirected (its registration works)" test "$do" -ge $((2 * n - 4))
  expect_eq "$1: B sends no TCP data: nothing of B's went anywhere else" 0 $((d1 - d0))
}
b_still_shortcut "after the attempts" client

# --- admin calls: uid 0 in the agent's own network namespace, nobody else
# (issue: a pod's root that deregistered its own pod was an admin; /v1/monitor
# had no check at all). An operator runs the CLI there (kubectl exec into the
# agent's pod; here: the node's namespace).
code_from() { # WHERE METHOD PATH [BODY] -> the HTTP status
  # WHERE: a pod, stray (root in a namespace of no pod), host (root in the
  # host's namespace), node (root in the agent's), node-nobody (uid 65534 there,
  # group 0 so that the 0660 socket lets it connect)
  local where=$1 c=(curl -s -m 10 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$2")
  [ -n "${4:-}" ] && c+=(-H 'Content-Type: application/json' -d "$4")
  c+=("http://meshcut-agent$3")
  case $where in
    host) "${c[@]}" ;;
    stray) nsenter --net="/run/netns/$STRAY" -- "${c[@]}" ;;
    node) nsenter --net="/run/netns/$NODE_NS" -- "${c[@]}" ;;
    node-nobody) nsenter --net="/run/netns/$NODE_NS" -- setpriv --reuid 65534 --regid 0 --clear-groups -- "${c[@]}" ;;
    *) vcx "$where" -- "${c[@]}" ;;
  esac
}
# every admin route from WHERE -> "METHOD PATH=STATUS ..."
admin_routes() { # WHERE
  local m p b out=""
  while read -r m p b; do out+="$m $p=$(code_from "$1" "$m" "$p" "$b") "; done <<JSON
PUT /v1/mode {"mode": "off"}
PUT /v1/config {"backlog_limit": 2147483647}
DELETE /v1/pods/default/$B
POST /v1/monitor/start {"hooks": "tracepoint"}
POST /v1/monitor/stop
DELETE /v1/monitor
POST /v1/monitor {"duration": 1}
GET /v1/monitor
JSON
  echo "${out% }"
}
all_403() { [ -n "$1" ] && ! tr ' ' '\n' <<<"$1" | grep '=' | grep -qv '=403$'; }
mon_progs() { bpftool prog show -j | jq '[.[] | select(.name | startswith("mc_mon_"))] | length'; }
P=plain
code=$(code_from $P DELETE /v1/pods/default/$P)
expect_eq "a pod's root deregisters its own pod" 200 "$code"
for where in $P client stray host node-nobody; do
  case $where in
    $P) what="root of pod $P, after deregistering itself" ;;
    client) what="root of a registered pod (client)" ;;
    stray) what="root in a namespace that is neither a pod's nor the node's" ;;
    host) what="root in the host's namespace (not the agent's)" ;;
    node-nobody) what="a non-root user in the agent's namespace" ;;
  esac
  res=$(admin_routes $where)
  check "$what: 403 on every admin route ($res)" all_403 "$res"
done
st=$(mc_admin node1 status --json)
expect_eq "... so the mode is still full" full "$(jq -r .mode <<<"$st")"
expect_eq "... the backlog limit still 4 MiB" 4194304 "$(jq .backlog_limit <<<"$st")"
expect_eq "... no monitor session ran or runs" "false 0" \
  "$(mc_admin_curl node1 http://meshcut-agent/v1/monitor | jq -r '"\(.running) \(.sessions)"')"
expect_eq "... no monitor program is loaded" 0 "$(mon_progs)"
expect_eq "... and B is registered as before" "$B_before" "$(pod_entry $B)"
out=$("$MESHCUT" --socket "$SOCK" mode full 2>&1); rc=$?
check "the CLI from the host's namespace: exit 1, saying where admin calls come from ($(oneline "$out"))" \
  test "$rc" = 1 -a -n "$(grep -F "uid 0 in the agent's network namespace" <<<"$out")"
out=$(mc_admin node1 mode full 2>&1); rc=$?
expect_eq "root in the agent's namespace changes the mode ($(oneline "$out"))" 0 "$rc"
out=$(mc_admin node1 backlog-limit 4194304 2>&1); rc=$?
expect_eq "... and the backlog limit ($(oneline "$out"))" 0 "$rc"
expect_eq "... and reads the monitor" 200 "$(code_from node GET /v1/monitor)"
out=$("$VC" meshcut cli all mode full 2>&1); rc=$?
expect_eq "vcluster meshcut cli all: the CLI in every node agent's namespace ($(oneline "$out"))" "0 2" \
  "$rc $(grep -c '^mode full$' <<<"$out")"
# GET /v1/pods: every pod for the admin, a pod's own entry for a pod, nothing for anyone else
C_COOKIE=$(pod_entry client | jq .netns_cookie)
n_all=$(pods_json | jq -c '[.[].pod] | sort')
expect_eq "the admin lists every registered pod (all meshed ones but $P)" \
  "$("$VC" status --json | jq -c --arg p "default/$P" '[.pods[] | select(.meshed) | "default/\(.name)"] - [$p] | sort')" "$n_all"
own=$(vcx client -- curl -s -m 10 --unix-socket "$SOCK" http://meshcut-agent/v1/pods)
expect_eq "a registered pod lists only its own entry" "[\"default/client $C_COOKIE\"]" \
  "$(jq -c '[.[] | "\(.pod) \(.netns_cookie)"]' <<<"$own")"
res=""; for where in $P stray host node-nobody; do res+="$where=$(code_from $where GET /v1/pods) "; done
check "an unregistered pod, another namespace, the host, a non-root user: 403 ($res)" all_403 "$res"
res=""; for p in /v1/status /v1/stats /metrics /healthz; do res+="$p=$(code_from client GET $p) "; done
expect_eq "a pod reads the node's status, counters and metrics (no pod's identity in them)" \
  "/v1/status=200 /v1/stats=200 /metrics=200 /healthz=200" "${res% }"
leak=$( { vcx client -- curl -s -m 10 --unix-socket "$SOCK" http://a/v1/status
  vcx client -- curl -s -m 10 --unix-socket "$SOCK" http://a/v1/stats; } |
  grep -oE "default/[a-z0-9-]+|$B_IP\b|$A_IP\b|netns_cookie|host_ifindex|\"mac\"|\"nsid\"" | sort -u | tr '\n' ' ')
expect_eq "... /v1/status and /v1/stats name no pod, IP, MAC, veth or netns" "" "$leak"
out=$(vcx $P -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name $P --pod-namespace default --pod-ips "$(pod_ip $P)" \
  --exclude-inbound-ports "" --exclude-outbound-ports "" --exclude-outbound-cidrs "" --required 2>&1); rc=$?
expect_eq "pod $P registers again ($(oneline "$out"))" 0 "$rc"

# --- a name is a label, not a key (issue: a pod that registered with another
# pod's name evicted it: the victim's traffic fell back to TCP and its tc state
# stayed behind). The agent cannot verify a name, so two registrations may
# carry one; a registration goes only when its own namespace deregisters or is
# gone. Here A (client2) takes B's (ds) name, as it could a StatefulSet pod's.
a_as_b() { echo "{\"namespace\": \"default\", \"name\": \"$B\", \"ips\": [\"$A_IP\"], \"host_ifindex\": $A_VETH, \"mac\": \"$A_MAC\", \"exclude_outbound_ports\": \"$A_EXCL\"}"; }
cookies_named() { pods_json | jq -c --arg p "default/$1" '[.[] | select(.pod == $p) | .netns_cookie] | sort'; }
expect_eq "A deregisters itself" 200 "$(code_from $A DELETE /v1/pods/default/$A)"
ans=$(post_from $A "$(a_as_b)")
expect_eq "A registers with B's name ($(jq -r '.message // .error' <<<"$ans"))" 201 "$(jq .status <<<"$ans")"
expect_eq "the admin sees both registrations named default/$B" "$(jq -c -n "[$A_COOKIE, $B_COOKIE] | sort")" "$(cookies_named $B)"
expect_eq "B's registration is untouched" "$B_before" "$(entry_of $B_COOKIE)"
b_still_shortcut "B's name taken by A" $A
out=$(mc_admin node1 deregister default/$B 2>&1); rc=$?
check "the admin deregistering default/$B by name alone: refused, naming both ($(oneline "$out"))" \
  test "$rc" = 1 -a -n "$(grep -F "2 registrations carry the name default/$B" <<<"$out")" -a -n "$(grep -F -- "--netns" <<<"$out")"
expect_eq "... and both are still there" "$(jq -c -n "[$A_COOKIE, $B_COOKIE] | sort")" "$(cookies_named $B)"
out=$(mc_admin node1 deregister default/$B --netns "$A_COOKIE" 2>&1); rc=$?
expect_eq "the admin deregisters A's one with --netns ($(oneline "$out"))" 0 "$rc"
expect_eq "... B's stays" "[$B_COOKIE]" "$(cookies_named $B)"
ans=$(post_from $A "$(a_as_b)")
expect_eq "A takes B's name again" 201 "$(jq .status <<<"$ans")"
ans=$(vcx $A -- curl -s -m 10 --unix-socket "$SOCK" -X DELETE http://meshcut-agent/v1/pods/default/$B)
expect_eq "A deregisters default/$B: its own registration goes ($(jq -r '.message // .error' <<<"$ans"))" 200 "$(jq .status <<<"$ans")"
expect_eq "... B's stays, untouched" "$B_before" "$(entry_of $B_COOKIE)"
expect_eq "... and A has none" "" "$(entry_of $A_COOKIE)"
expect_eq "A's DELETE of default/$B again: B's is not A's (403)" 403 "$(code_from $A DELETE /v1/pods/default/$B)"
b_still_shortcut "A's claim removed" client
out=$(vcx $A -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name $A --pod-namespace default --pod-ips "$A_IP" \
  --exclude-inbound-ports "" --exclude-outbound-ports "$A_EXCL" --exclude-outbound-cidrs "" --required 2>&1); rc=$?
expect_eq "A registers as itself again ($(oneline "$out"))" 0 "$rc"

# --- hostile input while other pods register
printf '\x00\x01\x02GARBAGE\r\n\r\n' >"$TEST_TMP/garbage"
http_req "$TEST_TMP/badjson" POST /v1/pods '{"namespace": "default", "name": '
http_req "$TEST_TMP/nuljson" POST /v1/pods "$(printf '{"namespace": "default", "name": "p\\u0000"}')"
head -c 20000 /dev/zero | tr '\0' ' ' >"$TEST_TMP/big.body"
http_req "$TEST_TMP/oversized" POST /v1/pods "$(cat "$TEST_TMP/big.body")"
{ printf 'GET /v1/status HTTP/1.1\r\nHost: a\r\nX-Big: '; head -c 70000 /dev/zero | tr '\0' a; printf '\r\n\r\n'; } >"$TEST_TMP/bighead"
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n{}' >"$TEST_TMP/hugelen"
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n{}' >"$TEST_TMP/neglen"
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{}\r\n0\r\n\r\n' >"$TEST_TMP/badchunk"
{ printf 'GET /'; head -c 20000 /dev/zero | tr '\0' a; printf ' HTTP/1.1\r\nHost: a\r\n\r\n'; } >"$TEST_TMP/longurl"
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nContent-Length: 200\r\n\r\n{"namespace": "default", "na' >"$TEST_TMP/truncbody"
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nContent-Le' >"$TEST_TMP/trunchead"
cases=(garbage badjson nuljson oversized bighead hugelen neglen badchunk longurl truncbody trunchead)
i=0
for c in "${cases[@]}"; do
  shut=; case $c in trunc*) shut=shut ;; esac
  # at most 6 at once per pod: under the per-namespace connection limit
  pod=plain; [ $((i++)) -ge 6 ] && pod=$A
  vcx $pod -- perl "$TEST_TMP/sock.pl" send "$SOCK" "$TEST_TMP/$c" $shut >"$TEST_TMP/$c.out" 2>&1 &
done
# a request stalled half-way, and a pod trickling a byte per second on 8 connections
printf 'POST /v1/pods HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n{"names' >"$TEST_TMP/stalled"
vcx excl-in -- perl "$TEST_TMP/sock.pl" stall "$SOCK" "$TEST_TMP/stalled" >"$TEST_TMP/stall.out" 2>&1 &
vcx client -- perl "$TEST_TMP/sock.pl" trickle "$SOCK" 8 1 10 >"$TEST_TMP/trickle.out" 2>&1 &
wait_for 100 grep -q '^CONNECTED 8' "$TEST_TMP/trickle.out"
# meanwhile: a ninth connection of the trickling pod is refused, other pods are served
http_req "$TEST_TMP/status" GET /v1/status
vcx client -- perl "$TEST_TMP/sock.pl" send "$SOCK" "$TEST_TMP/status" >"$TEST_TMP/ninth.out" 2>&1
check "while client trickles on 8 connections, its 9th gets 429" grep -q '^RESULT 429' "$TEST_TMP/ninth.out"
check "... saying why" grep -q 'too many open connections from this network namespace' "$TEST_TMP/ninth.out"
id0=$(pod_entry stream | jq .id)
out=$(vcx stream -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name stream --pod-namespace default \
  --pod-ips "$(pod_ip stream)" --exclude-inbound-ports "" --exclude-outbound-ports "" \
  --exclude-outbound-cidrs "" --required 2>&1); rc=$?
expect_eq "meanwhile another pod re-registers (exit 0: $(oneline "$out"))" 0 "$rc"
expect_eq "... idempotently: the same pod id" "$id0" "$(pod_entry stream | jq .id)"
check "meanwhile the admin CLI is served" mc_admin node1 status
wait
check "once its trickling connections are closed, the pod is served again" \
  vcx client -- curl -sf -m 5 --unix-socket "$SOCK" http://meshcut-agent/v1/status
for c in "${cases[@]}"; do
  res=$(head -1 "$TEST_TMP/$c.out")
  case $res in
    "RESULT 4"*|"RESULT closed"*) ok "$c request: a 4xx or a closed connection (${res#RESULT })" ;;
    *) not_ok "$c request: expected a 4xx or a closed connection, got: $(head -c 300 "$TEST_TMP/$c.out")" ;;
  esac
done
check "malformed JSON: 400 naming the problem" grep -q '"error": "malformed JSON' "$TEST_TMP/badjson.out"
check "oversized body: 413" grep -q '^RESULT 413' "$TEST_TMP/oversized.out"
read -r _ res el <<<"$(head -1 "$TEST_TMP/stall.out")"
check "a request stalled half-way is closed by the 5 s idle timeout ($res after ${el}s)" \
  sh -c "[ '$res' = closed ] && awk 'BEGIN { exit !($el >= 4 && $el <= 8) }'"
diag "$(cat "$TEST_TMP/trickle.out")"
diag "(libmicrohttpd's timeout is an idle timeout: a trickle keeps its connections; the per-namespace limit bounds them)"
check "the agent still serves after all of it" mc_admin node1 status
expect_eq "no hostile request changed a registration" "$B_before" "$(pod_entry $B)"

# --- rate limit: per namespace, 20 requests at once, then 5 per second
# (--reg-burst, --reg-rate). With the defaults a token comes back every 200 ms,
# less than starting a command in a pod may take here; so the defaults prove
# only what a returning token cannot break (a 429 once the burst is spent, and
# service again after a pause), and the exact counts are proven with the
# agents restarted at 1 per hour, where no token comes back while we look.
urls=(); for i in $(seq 1 100); do urls+=(-o /dev/null "http://meshcut-agent/v1/pods/default/nope$i"); done
codes=$(vcx excl-in -- curl -s -m 20 --unix-socket "$SOCK" -X DELETE -w '%{http_code}\n' "${urls[@]}")
n404=$(grep -c '^404$' <<<"$codes"); n429=$(grep -c '^429$' <<<"$codes")
diag "defaults (20, then 5/s): 100 requests on one connection from excl-in: $n404 answered (404), $n429 refused (429)"
check "the first 20 requests are served" test "$(head -20 <<<"$codes" | grep -c '^404$')" = 20
check "then 429 (the burst is spent faster than it refills)" test "$n429" -ge 1
sleep 1.2
code=$(vcx excl-in -- curl -s -m 5 --unix-socket "$SOCK" -X DELETE -o /dev/null -w '%{http_code}' http://a/v1/pods/default/nope)
expect_eq "a second later the limited pod is served again" 404 "$code"

out=$("$BUILD/meshcut-agent" --reg-rate 5/d 2>&1); rc=$?
expect_eq "agent with --reg-rate 5/d: exit 2 ($(oneline "$out"))" 2 "$rc"
check "... naming the forms it takes" grep -q "N/s, N/m or N/h" <<<"$out"

VC_AGENT_ARGS="--reg-burst 20 --reg-rate 1/h --http 127.0.0.1:9464" "$VC" meshcut restart-agents >/dev/null 2>&1
check "agents restarted with --reg-burst 20 --reg-rate 1/h --http 127.0.0.1:9464" mc_admin node1 status
# the TCP listener (the chart's probes and Prometheus) knows no caller: it
# serves the probes and /metrics, nothing of /v1
tcp_code() { nsenter --net="/run/netns/$NODE_NS" -- curl -s -m 5 -o /dev/null -w '%{http_code}' -X "$1" "http://127.0.0.1:9464$2"; }
res=""; for r in "GET /v1/pods" "GET /v1/status" "GET /v1/stats" "GET /v1/monitor" "PUT /v1/mode" "POST /v1/monitor/start" "DELETE /v1/pods/default/$B"; do
  res+="${r#* }=$(tcp_code $r) "; done
expect_eq "the TCP listener answers 404 on /v1/*" \
  "/v1/pods=404 /v1/status=404 /v1/stats=404 /v1/monitor=404 /v1/mode=404 /v1/monitor/start=404 /v1/pods/default/$B=404" "${res% }"
res=""; for r in /healthz /readyz /metrics; do res+="$r=$(tcp_code GET $r) "; done
expect_eq "... and serves /healthz, /readyz and /metrics" "/healthz=200 /readyz=200 /metrics=200" "${res% }"
codes=$(vcx excl-in -- curl -s -m 10 --unix-socket "$SOCK" -X DELETE -w '%{http_code}\n' "${urls[@]:0:90}")
n404=$(grep -c '^404$' <<<"$codes"); n429=$(grep -c '^429$' <<<"$codes")
diag "20, then 1/h: 30 requests at once from excl-in: $n404 answered (404), $n429 refused (429)"
check "exactly the first 20 requests are served" test "$(head -20 <<<"$codes" | grep -c '^404$')" = 20 -a "$n404" = 20
expect_eq "... and the other 10 refused" 10 "$n429"
out=$(vcx excl-in -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name excl-in --pod-namespace default \
  --pod-ips "$(pod_ip excl-in)" --exclude-inbound-ports 9080 --exclude-outbound-ports '' \
  --exclude-outbound-cidrs '' --required 2>&1); rc=$?
expect_eq "meshcut-init when rate-limited: exit 4" 4 "$rc"
check "... with the agent's message ($(oneline "$out"))" \
  grep -q "(HTTP 429): rate limit: too many registration requests from this network namespace (20 at once, then 1 per hour); retry in [0-9]* ms" <<<"$out"
code=$(vcx ds -- curl -s -m 5 --unix-socket "$SOCK" -X DELETE -o /dev/null -w '%{http_code}' http://a/v1/pods/default/nope)
expect_eq "another pod is not limited" 404 "$code"
"$VC" meshcut restart-agents >/dev/null 2>&1
check "agents back to the default limits" mc_admin node1 status

# --- meshcut-init exit codes
run_init() { # POD EXTRA-ARGS... -> "rc output"
  local pod=$1; shift
  vcx "$pod" -- "$BUILD/meshcut-init" --pod-name "$pod" --pod-namespace default --pod-ips "$(pod_ip "$pod")" \
    --exclude-inbound-ports "" --exclude-outbound-ports "" --exclude-outbound-cidrs "" "$@" 2>&1
}
out=$(run_init $A --socket "$TEST_TMP/no-agent.sock" --required --wait 0); rc=$?
expect_eq "agent absent, --required: exit 3" 3 "$rc"
check "... saying the agent is unreachable ($(oneline "$out"))" grep -q "agent unreachable at $TEST_TMP/no-agent.sock" <<<"$out"
out=$(run_init $A --socket "$TEST_TMP/no-agent.sock" --wait 0); rc=$?
expect_eq "agent absent without --required: exit 0 (the pod starts without meshcut)" 0 "$rc"
check "... and says so" grep -q "starts without meshcut" <<<"$out"
out=$(vcx $A -- "$BUILD/meshcut-init" --socket "$SOCK" --pod-name $A --pod-namespace default --pod-ips "$B_IP" 2>&1); rc=$?
expect_eq "refused without --required: exit 0" 0 "$rc"
both() { grep -q "$1" <<<"$3" && grep -q "$2" <<<"$3"; }
check "... with the reason and that the pod starts without meshcut" \
  both "ips: $B_IP is not configured" "starts without meshcut" "$out"
out=$(run_init stream --socket "$SOCK" --app-sockets TCP); rc=$?
expect_eq "app sockets 'TCP' (a typo): exit 0, not registered" 0 "$rc"
check "... naming the annotation and the values it takes ($(oneline "$out"))" \
  both "must be tcp or shortcut (annotation meshcut.io/app-sockets)" "not registering" "$out"
out=$(run_init stream --socket "$SOCK" --app-sockets TCP --required); rc=$?
expect_eq "... with --required: exit 2" 2 "$rc"
out=$(run_init stream --socket "$SOCK" --required); rc=$?
expect_eq "a valid registration, --required: exit 0 ($(oneline "$out"))" 0 "$rc"

# --- a registration goes when its network namespace goes (issue: entries
# without a host veth stayed forever, across restarts; the IP's next pod got
# 409 and the pod table filled). Namespaces of our own stand for pods of a CNI
# that gives them no host veth: their eth0 is a veth whose peer is inside the
# namespace too, so they register without host_ifindex.
mkns() { # NAME IP: a namespace whose eth0 carries IP
  ip netns add "$G$1" && ip -n "$G$1" link add eth0 type veth peer name eth1 &&
    ip -n "$G$1" link set lo up && ip -n "$G$1" link set eth0 up && ip -n "$G$1" addr add "$2/32" dev eth0
}
reg_from() { # NAME IP -> the agent's JSON answer (pod default/gone-NAME)
  nsenter --net="/run/netns/$G$1" -- curl -s -m 10 --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
    -d "{\"namespace\": \"default\", \"name\": \"gone-$1\", \"ips\": [\"$2\"]}" http://meshcut-agent/v1/pods
}
nsids() { ip -n "$NODE_NS" -j netns list-id | jq -c '[.[].nsid] | sort'; }
nsid_of() { ip -n "$NODE_NS" -j netns list-id | jq --arg n "$G$1" '.[] | select(.name == $n) | .nsid'; }
nsid_gone() { ip -n "$NODE_NS" -j netns list-id | jq -e --argjson i "$1" 'all(.nsid != $i)' >/dev/null; }
listed() { pods_json | jq -e --argjson c "$1" 'any(.[]; .netns_cookie == $c)' >/dev/null; }
not_listed() { pods_json | jq -e --argjson c "$1" 'all(.[]; .netns_cookie != $c)' >/dev/null; }
no_gone_ones() { pods_json | jq -e 'all(.[]; .pod | startswith("default/gone-") | not)' >/dev/null; }
stop_agent1() { # SIGTERM to node1's agent (a rolling update's first half)
  local pid; pid=$(cat "/run/meshcut-vc/$VCLUSTER_NAME/pids/node1.agent.pid")
  kill -TERM "$pid"; wait_for 100 sh -c "! kill -0 $pid 2>/dev/null || grep -q '^State:.*Z' /proc/$pid/status"
}
meshed0=$(pods_json | jq -c '[.[].pod] | sort')

mkns 1 10.244.1.201
ans=$(reg_from 1 10.244.1.201); c1=$(jq .netns_cookie <<<"$ans"); n1=$(nsid_of 1)
expect_eq "a namespace without a host veth registers ($(jq -r '.message // .error' <<<"$ans"))" 201 "$(jq .status <<<"$ans")"
expect_eq "... without host_ifindex, with its netnsid ($n1) recorded" "0 $n1" "$(entry_of "$c1" | jq -r '"\(.host_ifindex) \(.nsid)"')"
ip netns del "${G}1"
t0=$(date +%s.%N)
if wait_for 100 not_listed "$c1"; then
  ok "its namespace deleted while the agent runs: the registration goes ($(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }") s)"
else
  not_ok "its namespace deleted while the agent runs: the registration goes (still listed after 10 s; nsids $(nsids))"
fi

# deleted while the agent is stopped: gone at start-up. Also a dead
# registration whose netnsid another namespace took meanwhile (nsids are
# reused, lowest free first): that namespace does not carry its IP.
mkns 2 10.244.1.202 && mkns 4 10.244.1.204 && mkns 6 10.244.1.206
c2=$(reg_from 2 10.244.1.202 | jq .netns_cookie); c4=$(reg_from 4 10.244.1.204 | jq .netns_cookie)
c6=$(reg_from 6 10.244.1.206 | jq .netns_cookie)
n2=$(nsid_of 2) n4=$(nsid_of 4) n6=$(nsid_of 6)
check "three more registered without a host veth (netnsids $n2 $n4 $n6)" listed "$c6"
stop_agent1
ip netns del "${G}2"; ip netns del "${G}4"; ip netns del "${G}6"
all_gone() { nsid_gone "$n2" && nsid_gone "$n4" && nsid_gone "$n6"; }
wait_for 100 all_gone ||
  diag "the deleted namespaces' netnsids are still listed: $(nsids)"
# the next pods: one with the same netnsid and the same IP (IPAM reuse),
# one with a reused netnsid and another IP
mkns 5 10.244.1.204 && ip -n "$NODE_NS" netns set "${G}5" "$n4"
mkns 7 10.244.1.207 && ip -n "$NODE_NS" netns set "${G}7" "$n6"
diag "agent stopped; deleted netnsids $n2 $n4 $n6; ${G}5 now has $(nsid_of 5), ${G}7 $(nsid_of 7)"
"$VC" meshcut restart-agents >/dev/null 2>&1
check "agents restarted" mc_admin node1 status
check "a registration whose namespace went while the agent was stopped is gone at start-up" not_listed "$c2"
check "... and one whose netnsid another namespace (not carrying its IP) took meanwhile" not_listed "$c6"
mkns 3 10.244.1.202
ans=$(reg_from 3 10.244.1.202)
expect_eq "a new namespace registers the dead registration's IP ($(jq -r '.message // .error' <<<"$ans"))" 201 "$(jq .status <<<"$ans")"
ans=$(reg_from 5 10.244.1.204)
expect_eq "the namespace that took a dead registration's netnsid registers its IP ($(jq -r '.message // .error' <<<"$ans"))" 201 "$(jq .status <<<"$ans")"
check "... and the dead registration is gone" not_listed "$c4"

# the IP's next pod while the old namespace is still being torn down: its
# interface is gone (CNI DEL), a process still holds the namespace
mkns 8 10.244.1.208
c8=$(reg_from 8 10.244.1.208 | jq .netns_cookie)
nsenter --net="/run/netns/${G}8" -- sleep 300 &
HOLD=$!
ip -n "${G}8" link del eth0
ip netns del "${G}8"
mkns 9 10.244.1.208
ans=$(reg_from 9 10.244.1.208)
expect_eq "a namespace that no longer carries its IP does not hold it: the next one registers it ($(jq -r '.message // .error' <<<"$ans"))" \
  201 "$(jq .status <<<"$ans")"
check "... and the old registration is gone" not_listed "$c8"
kill "$HOLD"; wait "$HOLD" 2>/dev/null
for i in 3 5 7 9; do ip netns del "$G$i"; done
wait_for 100 no_gone_ones
expect_eq "the test's namespaces deleted: every registration of theirs went, the cluster's pods stay" "$meshed0" "$(pods_json | jq -c '[.[].pod] | sort')"
diag "node1's agent since its restart:"
grep -E 'is gone|start-up' "/run/meshcut-vc/$VCLUSTER_NAME/logs/node1.agent.log" | cut -c1-240 | sed 's/^/#   /'

ip netns del "$STRAY"
check "the stray namespace and its veth are gone" sh -c "! ip netns list | grep -q '^$STRAY\b' && ! ip -n '$NODE_NS' link show mcs-stray0 2>/dev/null"
check "the agent is still running" mc_admin node1 status
tap_done
