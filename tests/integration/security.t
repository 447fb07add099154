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
STRAY=mcsec-stray
trap 'ip netns del "$STRAY" 2>/dev/null; vc_test_cleanup' EXIT
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
pods_json() { curl -s -m 10 --unix-socket "$SOCK" http://meshcut-agent/v1/pods; }
pod_entry() { pods_json | jq -c --arg p "default/$1" '.[] | select(.pod == $p)'; }
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
NODE_NS=$("$VC" status --json | jq -r '.nodes[0].netns')
A=client2 B=ds
A_IP=$(pod_ip $A) B_IP=$(pod_ip $B)
A_NS=/run/netns/$(pod_netns $A) B_NS=/run/netns/$(pod_netns $B)
A_VETH=$(ip -n "$NODE_NS" -j link show "v-$A" | jq '.[0].ifindex')
B_VETH=$(ip -n "$NODE_NS" -j link show "v-$B" | jq '.[0].ifindex')
A_MAC=$(ip -n "$(pod_netns $A)" -j link show eth0 | jq -r '.[0].address')
A_ETH0=$(ip -n "$(pod_netns $A)" -j link show eth0 | jq '.[0].ifindex')
A_EXCL=$("$VC" status --json | jq -r --arg p $A '.pods[] | select(.name == $p) | .exclude_outbound_ports | map(tostring) | join(",")')
A_before=$(pod_entry $A) B_before=$(pod_entry $B)
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
  sh -c "[ '$(jq .status <<<"$ans")' = 200 ] && '$MESHCUT' --socket '$SOCK' pods --json | jq -e '.[] | select(.pod == \"default/$A\") | .ips == [\"$A_IP\", \"fd00:5ec::11\"]' >/dev/null"
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
  "ips: $B_IP is registered to pod default/$B" \
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
  "$(a_body "\"host_ifindex\": $A_VETH, \"mac\": \"$A_MAC\", \"exclude_outbound_ports\": \"$A_EXCL\", \"netns_cookie\": $A_COOKIE")"
rm -f "$TEST_TMP/handover.out"
vcx $A -- perl "$TEST_TMP/sock.pl" hand-over "$SOCK" "$B_NS" "$TEST_TMP/claim-a.http" "$TEST_TMP/handover.out" >/dev/null
wait_for 100 grep -qs "^RESULT" "$TEST_TMP/handover.out"
check "the same hand-over with A's own claim refreshes A" grep -qF "refreshed pod default/$A" "$TEST_TMP/handover.out"

# --- after all that, A and B are registered exactly as before
A_after=$(pod_entry $A) B_after=$(pod_entry $B)
expect_eq "B's registration is unchanged (netns, IP, veth, MAC, policy)" "$B_before" "$B_after"
expect_eq "A's registration is unchanged" "$A_before" "$A_after"
check "meshcut pods lists B with its IP and veth" sh -c "'$MESHCUT' --socket '$SOCK' pods | grep -E '^default/$B +$B_IP +$B_COOKIE +$B_VETH '"
# B's traffic still goes through meshcut as B's: the client's calls to B are
# redirected pair by pair and B's pod sends no TCP data
url="http://$(svc_addr $B)/"
vcx client -- "$BUILD/tests/meshload" --url "$url" -c 1 -d 0.3 --warmup 0.2 --json >/dev/null
r0=$(stats_json node1 | jq -c .redirected); d0=$(pod_data_segs $B)
res=$(vcx client -- "$BUILD/tests/meshload" --url "$url" -c 1 -d 1 --warmup 0 --json)
r1=$(stats_json node1 | jq -c .redirected); d1=$(pod_data_segs $B)
n=$(jq '.requests + .warmup_requests' <<<"$res")
di=$(( $(jq .inbound <<<"$r1") - $(jq .inbound <<<"$r0") ))
dn=$(( $(jq .node_local <<<"$r1") - $(jq .node_local <<<"$r0") ))
diag "after the attempts: $n requests to $B; redirected inbound $di, sidecar-to-sidecar $dn; $B sent $((d1 - d0)) TCP data segments"
expect_eq "requests to B all succeed" 0 "$(jq '.errors // 0' <<<"$res")"
check "B's inbound pairs are redirected as before (2 messages per request)" test "$di" -ge $((2 * n - 4))
check "the client-to-B sidecar pairs are redirected as before" test "$dn" -ge $((2 * n - 4))
expect_eq "B sends no TCP data: nothing of B's went anywhere else" 0 $((d1 - d0))

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
sleep 1
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
check "meanwhile the admin CLI is served" "$MESHCUT" --socket "$SOCK" status
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
check "the agent still serves after all of it" "$MESHCUT" --socket "$SOCK" status
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

VC_AGENT_ARGS="--reg-burst 20 --reg-rate 1/h" "$VC" meshcut restart-agents >/dev/null 2>&1
check "agents restarted with --reg-burst 20 --reg-rate 1/h" "$MESHCUT" --socket "$SOCK" status
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
check "agents back to the default limits" "$MESHCUT" --socket "$SOCK" status

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

ip netns del "$STRAY"
check "the stray namespace and its veth are gone" sh -c "! ip netns list | grep -q '^$STRAY\b' && ! ip -n '$NODE_NS' link show mcs-stray0 2>/dev/null"
check "the agent is still running" "$MESHCUT" --socket "$SOCK" status
tap_done
