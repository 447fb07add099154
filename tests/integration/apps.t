#!/usr/bin/env bash
# TAP: the test services themselves (build/tests/meshapp, build/tests/meshstream)
# on loopback, with no proxy and no eBPF in between. Every other test trusts
# these tools to tell a broken mesh from a working one, so here they must pass
# on good paths and fail - with the right exit code - on damaged ones.
#
#   prove -v tests/integration/apps.t      (from the repository, after make all)
#
# Services listen on 127.0.0.1 port 0: the kernel picks free high ports, which
# each meshapp reports on its "listening" line. No namespaces, no root needed.
# No "set -e/-u": a failed step must turn into "not ok", not end the plan early.
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/tests
APP=$BIN/meshapp
STREAM=$BIN/meshstream
TMP=$(mktemp -d /tmp/meshcut-apps.XXXXXX)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

N=0
# check DESCRIPTION COMMAND...: one TAP line; on failure the command's output
# (collected in $TMP/out) is shown as diagnostics.
check() {
	local desc=$1; shift
	N=$((N + 1))
	if "$@" >"$TMP/out" 2>&1; then
		echo "ok $N - $desc"
	else
		echo "not ok $N - $desc"
		sed 's/^/#   /' "$TMP/out"
	fi
}
skip() { N=$((N + 1)); echo "ok $N - $1 # SKIP $2"; }
diag() { echo "# $*"; }

if [ ! -x "$APP" ] || [ ! -x "$STREAM" ]; then
	echo "1..0 # SKIP $APP or $STREAM not built: run make all"
	exit 0
fi

declare -A HTTP STREAMP PID
# start NAME ARGS...: run a meshapp, wait for its "listening" line, remember
# its ports in HTTP[NAME] / STREAMP[NAME] and its pid in PID[NAME].
start() {
	local name=$1; shift
	"$APP" --name "$name" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PID[$name]=$!
	PIDS+=($!)
	local i line
	for i in $(seq 100); do
		line=$(grep -m1 ' listening ' "$TMP/$name.out" 2>/dev/null) && break
		kill -0 "${PID[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "${line:-}" ]; then
		echo "meshapp $name did not start:"; cat "$TMP/$name.err"
		return 1
	fi
	HTTP[$name]=$(sed -n 's/.* http=[^ ]*:\([0-9]*\).*/\1/p' <<<"$line")
	STREAMP[$name]=$(sed -n 's/.* stream=[^ ]*:\([0-9]*\).*/\1/p' <<<"$line")
}

# expect WANT GOT: equality with a readable complaint
expect() {
	[ "$1" = "$2" ] && return 0
	echo "expected: $1"; echo "got:      $2"; return 1
}

# http NAME PATH [curl args]: response head to $TMP/head, body to $TMP/body;
# prints the status code
http() {
	local name=$1 path=$2; shift 2
	curl -sS -o "$TMP/body" -D "$TMP/head" -w '%{http_code}' "$@" \
		"http://127.0.0.1:${HTTP[$name]}$path"
}
header() { sed -n "s/^$1: *//Ip" "$TMP/head" | tr -d '\r'; }

# the body meshapp sends: 'a' + i % 26
pattern() { local n=$1; yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c "$n"; }

# ---------------------------------------------------------------- HTTP chain
check "start leaf, mid and front (front -> mid -> leaf)" eval '
	start leaf --listen 127.0.0.1:0 --stream-port 0 &&
	start mid --listen 127.0.0.1:0 --upstream 127.0.0.1:${HTTP[leaf]} &&
	start front --listen 127.0.0.1:0 --upstream 127.0.0.1:${HTTP[mid]}'
diag "ports: leaf ${HTTP[leaf]:-?} (stream ${STREAMP[leaf]:-?}), mid ${HTTP[mid]:-?}, front ${HTTP[front]:-?}"

t_status() { expect 200 "$(http front /)"; }
check "front answers 200" t_status

t_trace() { http front / >/dev/null; expect 'front(mid(leaf))' "$(header X-Trace)"; }
check "X-Trace is front(mid(leaf))" t_trace

t_body() {
	http front / >/dev/null
	expect 64 "$(header Content-Length)" && expect "$(pattern 64)" "$(cat "$TMP/body")"
}
check "default body: 64 bytes of a..z" t_body

t_size() {
	http front '/x?a=1&size=100000' >/dev/null
	expect 100000 "$(header Content-Length)" &&
		expect 100000 "$(stat -c %s "$TMP/body")" &&
		expect "$(pattern 100000 | sha256sum)" "$(sha256sum <"$TMP/body")"
}
check "?size=100000 overrides the body size" t_size

t_size0() { expect 200 "$(http front '/?size=0')" && expect 0 "$(stat -c %s "$TMP/body")"; }
check "?size=0 gives an empty body" t_size0

t_size_max() {
	expect 200 "$(http front '/?size=67108864')" && expect 67108864 "$(stat -c %s "$TMP/body")"
}
check "?size=64MiB (the maximum) is served" t_size_max

t_size_big() { expect 400 "$(http front '/?size=67108865')" && expect 400 "$(http front '/?size=12k')"; }
check "?size above 64 MiB or not a number is a 400" t_size_big

t_keepalive() {
	local u="http://127.0.0.1:${HTTP[front]}/"
	# %{num_connects} is 1 for a new connection, 0 for a reused one
	expect "1 0 0 " "$(curl -sS -w '%{num_connects} ' -o /dev/null "$u" -o /dev/null "$u" \
		-o /dev/null "$u")"
}
check "keep-alive: three requests on one connection" t_keepalive

t_close() {
	http front / -H 'Connection: close' >/dev/null && expect close "$(header Connection)"
}
check "Connection: close is honoured" t_close

t_pipelined() {
	# Three requests in one write: a GET, a POST whose body must be skipped,
	# and a last one that closes. Answers must come in order.
	local got
	got=$(exec 3<>"/dev/tcp/127.0.0.1/${HTTP[leaf]}" &&
		printf '%s' $'GET /?size=3 HTTP/1.1\r\nHost: x\r\n\r\n' \
			$'POST /?size=2 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' \
			$'GET /?size=1 HTTP/1.1\r\nConnection: close\r\n\r\n' >&3 &&
		timeout 5 cat <&3 | tr -d '\r')
	expect "$(printf 'HTTP/1.1 200 OK\nContent-Length: 3\nX-Trace: leaf\n\nabc')$(
		printf 'HTTP/1.1 200 OK\nContent-Length: 2\nX-Trace: leaf\n\nab')$(
		printf 'HTTP/1.1 200 OK\nContent-Length: 1\nX-Trace: leaf\nConnection: close\n\na')" "$got"
}
check "pipelined requests with a request body, answered in order" t_pipelined

t_badreq() {
	local got
	got=$(exec 3<>"/dev/tcp/127.0.0.1/${HTTP[leaf]}" &&
		printf 'BLAH\r\n\r\n' >&3 && timeout 5 head -1 <&3 | tr -d '\r')
	expect 'HTTP/1.1 400 Bad Request' "$got"
}
check "a malformed request gets 400" t_badreq

# -------------------------------------------------------- failing upstreams
# A port nobody listens on: a meshapp's, after it has gone.
check "start and stop a service to get a dead port" eval '
	start gone --listen 127.0.0.1:0 && kill ${PID[gone]} && wait ${PID[gone]}'
DEAD=${HTTP[gone]:-1}

t_502() {
	start orphan --listen 127.0.0.1:0 --upstream "127.0.0.1:$DEAD" &&
		expect 502 "$(http orphan /)" && expect "orphan(!127.0.0.1:$DEAD)" "$(header X-Trace)" &&
		grep -q "upstream 127.0.0.1:$DEAD" "$TMP/orphan.err"
}
check "dead upstream: 502, X-Trace orphan(!HOST:PORT), logged" t_502

t_502_chain() {
	start edge --listen 127.0.0.1:0 --upstream "127.0.0.1:${HTTP[leaf]}" \
		--upstream "127.0.0.1:${HTTP[orphan]}" --upstream "127.0.0.1:${HTTP[leaf]}" &&
		expect 502 "$(http edge /)" &&
		expect "edge(leaf,orphan(!127.0.0.1:$DEAD))" "$(header X-Trace)"
}
check "502 deeper in the tree keeps the failing hop in X-Trace" t_502_chain

t_fanout() {
	# "localhost" also makes the connection thread resolve a name
	start fan --listen 127.0.0.1:0 --upstream "localhost:${HTTP[leaf]}" \
		--upstream "127.0.0.1:${HTTP[front]}" --body 5 &&
		expect 200 "$(http fan /)" && expect 'fan(leaf,front(mid(leaf)))' "$(header X-Trace)" &&
		expect 5 "$(stat -c %s "$TMP/body")"
}
check "several upstreams are called in order; --body sets the size" t_fanout

t_head() {
	local h
	h=$(curl -sS -I "http://127.0.0.1:${HTTP[leaf]}/?size=1000" "http://127.0.0.1:${HTTP[leaf]}/" |
		tr -d '\r' | grep -c '^X-Trace: leaf$')
	expect 2 "$h" # a body after the first HEAD answer would garble the second
}
check "HEAD gets the head only, keep-alive stays in sync" t_head

# An upstream that closes after every answer without saying so, like a proxy
# whose keep-alive timeout expired: the next request finds a stale connection
# and must reconnect once instead of failing.
t_reconnect() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 16, ReuseAddr => 1) or die "listen: $!";
		$| = 1; print "port ", $s->sockport, "\n";
		while (my $c = $s->accept) {
			my $b = "";
			sysread($c, $b, 4096, length $b) or last while $b !~ /\r\n\r\n/;
			syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Trace: oneshot\r\n\r\nok");
			close $c;
		}' >"$TMP/oneshot.out" 2>&1 &
	PIDS+=($!)
	local port i
	for i in $(seq 100); do
		port=$(sed -n 's/^port //p' "$TMP/oneshot.out") && [ -n "$port" ] && break
		sleep 0.05
	done
	start ka --listen 127.0.0.1:0 --upstream "127.0.0.1:$port" || return 1
	local u="http://127.0.0.1:${HTTP[ka]}/"
	expect "200 200 200 " "$(curl -sS -w '%{http_code} ' -o /dev/null "$u" -o /dev/null "$u" \
		-o /dev/null "$u")" &&
		expect 'ka(oneshot)' "$(curl -sS -D - -o /dev/null "$u" | sed -n 's/^X-Trace: //p' | tr -d '\r')"
}
check "stale upstream keep-alive connection: reconnect once" t_reconnect

t_delay() {
	start slow --listen 127.0.0.1:0 --delay-us 300000 &&
		local t && t=$(curl -sS -o /dev/null -w '%{time_total}' "http://127.0.0.1:${HTTP[slow]}/") &&
		awk -v t="$t" 'BEGIN { exit !(t >= 0.3 && t < 3) }' || { echo "took ${t:-?} s"; return 1; }
}
check "--delay-us delays the answer" t_delay

t_ipv6() {
	start dual --listen 0 --ipv6 &&
		expect 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://[::1]:${HTTP[dual]}/")" &&
		expect 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:${HTTP[dual]}/")"
}
if [ -e /proc/net/if_inet6 ] && grep -q ' lo$' /proc/net/if_inet6; then
	check "--ipv6 listens dual stack (::1 and v4-mapped 127.0.0.1)" t_ipv6
else
	skip "--ipv6 listens dual stack" "no IPv6 on lo"
fi

# ------------------------------------------------------------ byte streams
S=127.0.0.1:${STREAMP[leaf]:-1}
# ms NAME ARGS...: run meshstream --json, keep the JSON in $TMP/NAME.json
ms() {
	local name=$1; shift
	"$STREAM" --connect "$S" --json --timeout 60 "$@" >"$TMP/$name.json"
	local rc=$?
	cat "$TMP/$name.json"
	return $rc
}
jqok() { jq -e "$1" "$TMP/$2.json" >/dev/null || { echo "jq: $1 failed"; return 1; }; }
rate() { jq -r '"\(.mode) \(.bytes_received) B received in \(.seconds) s: \(.mbps) Mbit/s"' "$TMP/$1.json"; }

t_echo() {
	ms echo --mode echo --bytes 64M --min-msg 1 --max-msg 4M --seed 11 &&
		jqok '.ok and .bytes_sent == 67108864 and .bytes_received == 67108864 and .first_mismatch == -1' echo
}
check "echo 64 MiB, writes of 1 B..4 MiB" t_echo
diag "$(rate echo 2>/dev/null)"

t_echo_slow() {
	ms echo_slow --mode echo --bytes 16M --max-msg 1M --read-size 16K --slow-reader-us 500 --seed 12 &&
		jqok '.ok and .bytes_received == 16777216' echo_slow
}
check "echo 16 MiB with a slow reader (16 KiB reads, 500 us pauses)" t_echo_slow

t_echo_splice() {
	ms echo_splice --mode echo --bytes 32M --max-msg 1M --reader splice --seed 13 &&
		jqok '.ok and .reader == "splice"' echo_splice
}
check "echo 32 MiB read through splice()" t_echo_splice
diag "$(rate echo_splice 2>/dev/null)"

t_echo_peek() {
	ms echo_peek --mode echo --bytes 16M --max-msg 256K --peek --seed 14 && jqok '.ok and .peek' echo_peek
}
check "echo 16 MiB with MSG_PEEK before every read" t_echo_peek

t_sink() {
	ms sink --mode sink --bytes 64M --min-msg 1 --max-msg 4M --seed 15 &&
		jqok '.ok and .bytes_sent == 67108864 and (.sha256 | length) == 64' sink
}
check "sink 64 MiB: server says OK with the same SHA-256" t_sink

t_source() {
	ms source --mode source --bytes 64M --min-msg 1 --max-msg 4M --seed 16 --size-seed 99 &&
		jqok '.ok and .bytes_received == 67108864' source
}
check "source 64 MiB, server writes of 1 B..4 MiB" t_source
diag "$(rate source 2>/dev/null)"

t_source_hc() {
	ms source_hc --mode source --bytes 8M --max-msg 64K --half-close --slow-reader-us 200 \
		--read-size 32K --reader splice --peek --seed 17 && jqok '.ok' source_hc
}
check "source after client half-close, slow splice+peek reader" t_source_hc

t_rr() {
	ms rr --mode rr --count 2000 --size 1 --half-close &&
		jqok '.ok and .count == 2000 and .p50_us > 0 and .p50_us <= .p90_us and .p90_us <= .p99_us and .p99_us <= .max_us' rr
}
check "rr 2000 x 1 byte, percentiles ordered" t_rr
diag "$(jq -r '"rr 1 B: mean \(.mean_us) us, p50 \(.p50_us), p99 \(.p99_us)"' "$TMP/rr.json" 2>/dev/null)"

t_rr_big() { ms rr_big --mode rr --count 200 --size 256K && jqok '.ok and .count == 200' rr_big; }
check "rr 200 x 256 KiB" t_rr_big

# ------------------------------------------- the checks must catch damage
t_sink_seed() {
	# Zeros announced as stream 2: the server's verifier must refuse them at
	# offset 0, after reading all of them.
	local got
	got=$(exec 3<>"/dev/tcp/127.0.0.1/${STREAMP[leaf]}" && printf 'SINK 4096 2\n' >&3 &&
		head -c 4096 /dev/zero >&3 && timeout 5 cat <&3)
	expect 'BAD 0' "$got"
}
check "SINK of data that is not the announced stream: BAD 0" t_sink_seed

t_sink_corrupt() {
	ms sink_bad --mode sink --bytes 8M --max-msg 1M --corrupt-at 5000001
	local rc=$?
	expect 1 $rc && jqok '(.ok | not) and .first_mismatch == 5000001' sink_bad
}
check "sink with one damaged byte: server BAD at its offset, exit 1" t_sink_corrupt

t_echo_corrupt() {
	ms echo_bad --mode echo --bytes 8M --max-msg 1M --corrupt-at 777
	local rc=$?
	expect 1 $rc && jqok '(.ok | not) and .first_mismatch == 777' echo_bad
}
check "echo with one damaged byte: mismatch at its offset, exit 1" t_echo_corrupt

t_err_cmd() {
	local got
	got=$(exec 3<>"/dev/tcp/127.0.0.1/${STREAMP[leaf]}" && printf 'FROB 1\n' >&3 && timeout 5 cat <&3)
	[[ $got == ERR* ]] || { echo "got: $got"; return 1; }
}
check "an unknown stream command gets ERR" t_err_cmd

# ------------------------------------------------------------- exit codes
t_usage() {
	"$STREAM" --mode echo; expect 2 $? &&
		{ "$STREAM" --connect "$S" --mode dance; expect 2 $?; } &&
		{ "$STREAM" --connect "$S" --mode echo --min-msg 10 --max-msg 5; expect 2 $?; }
}
check "meshstream usage errors exit 2" t_usage

t_refused() { "$STREAM" --connect "127.0.0.1:$DEAD" --mode echo; expect 2 $?; }
check "meshstream connect error exits 2" t_refused

t_timeout() {
	local t0=$SECONDS
	"$STREAM" --connect "$S" --mode source --bytes 1G --slow-reader-us 100000 --timeout 0.5 --json \
		>"$TMP/to.json"
	local rc=$?
	cat "$TMP/to.json"
	expect 3 $rc && jqok '(.ok | not) and (.error | test("timeout"))' to && [ $((SECONDS - t0)) -lt 5 ]
}
check "--timeout aborts with exit 3" t_timeout

t_app_usage() {
	"$APP" --listen 0; expect 2 $? && { "$APP" --name x --listen 0 --upstream nohostport; expect 2 $?; }
}
check "meshapp usage errors exit 2" t_app_usage

t_many() {
	# 50 concurrent clients through the chain: one thread each, no mix-ups.
	local i fail=0 pids=()
	for i in $(seq 50); do
		curl -sS -o /dev/null -D - "http://127.0.0.1:${HTTP[front]}/?size=$i" >"$TMP/many.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	for i in $(seq 50); do
		grep -q "^Content-Length: $i" "$TMP/many.$i" && grep -q '^X-Trace: front(mid(leaf))' "$TMP/many.$i" ||
			{ echo "client $i:"; cat "$TMP/many.$i"; fail=1; }
	done
	return $fail
}
check "50 concurrent requests through the chain" t_many

t_streams_parallel() {
	local i pids=() fail=0
	for i in 1 2 3 4; do
		"$STREAM" --connect "$S" --mode echo --bytes 8M --max-msg 512K --seed $((100 + i)) \
			>"$TMP/par.$i" 2>&1 &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || { cat "$TMP/par.$((i + 1))"; fail=1; }; done
	return $fail
}
check "4 parallel echo streams with different seeds" t_streams_parallel

t_sigterm() {
	local p=${PID[fan]} t0=$SECONDS rc
	exec 4<>"/dev/tcp/127.0.0.1/${HTTP[fan]}" # an idle keep-alive client
	kill -TERM "$p" && wait "$p"
	rc=$?
	exec 4>&-
	expect 0 $rc && [ $((SECONDS - t0)) -lt 3 ]
}
check "meshapp exits 0 on SIGTERM, promptly, with connections open" t_sigterm

t_quiet() {
	# Nothing unexpected in the logs: only the failing-upstream lines
	cat "$TMP"/{leaf,mid,front}.err
	! [ -s "$TMP/leaf.err" ] && ! [ -s "$TMP/mid.err" ] && ! [ -s "$TMP/front.err" ]
}
check "no errors logged by the healthy chain" t_quiet

echo "1..$N"
