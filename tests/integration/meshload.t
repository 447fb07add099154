#!/usr/bin/env bash
# TAP: build/tests/meshload, the benchmark's load generator, against meshapp
# and a few deliberately broken perl servers on loopback.
#
#   prove -v tests/integration/meshload.t      (from the repository, after make all)
#
# What must hold for its numbers to be trusted: the request count, the window
# and the rate agree; at one connection the mean latency agrees with Little's
# law (connections * window / requests), which is what wrk gets wrong; a known
# server delay shows up in the percentiles; every connection carries load; and
# each kind of failure lands in its own error counter without ending the run.
# No "set -e/-u": a failed step must turn into "not ok", not end the plan early.
cd "$(dirname "$0")/../.."
BIN=${BUILD:-build}/tests
APP=$BIN/meshapp
LOAD=$BIN/meshload
TMP=$(mktemp -d /tmp/meshcut-meshload.XXXXXX)
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
diag() { echo "# $*"; }

if [ ! -x "$APP" ] || [ ! -x "$LOAD" ]; then
	echo "1..0 # SKIP $APP or $LOAD not built: run make all"
	exit 0
fi

declare -A PORT PID
# start NAME ARGS...: a meshapp on 127.0.0.1, port in PORT[NAME]
start() {
	local name=$1; shift
	"$APP" --name "$name" --listen 127.0.0.1:0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PID[$name]=$!
	PIDS+=($!)
	local i line
	for i in $(seq 100); do
		line=$(grep -m1 ' listening ' "$TMP/$name.out" 2>/dev/null) && break
		kill -0 "${PID[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "${line:-}" ] || { echo "meshapp $name did not start:"; cat "$TMP/$name.err"; return 1; }
	PORT[$name]=$(sed -n 's/.* http=[^ ]*:\([0-9]*\).*/\1/p' <<<"$line")
}

# fake NAME MODE: a forking perl HTTP server that misbehaves in one way.
#   500      answers every request 500, keep-alive
#   close    answers 200 with "Connection: close" and closes
#   chunked  answers with a chunked body (meshload refuses those)
#   silent   reads requests, never answers
#   hangup   reads a request, closes without answering
#   firstslow  answers 200, keep-alive; the first answer on a connection after 1 s
# A child lives as long as its client connection (and 60 s at most).
fake() {
	local name=$1 mode=$2
	perl -MIO::Socket::INET -e '
		my $mode = shift;
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0,
			Listen => 256, ReuseAddr => 1) or die "listen: $!";
		$| = 1; print "port ", $s->sockport, "\n";
		$SIG{CHLD} = "IGNORE";
		while (1) {
			my $c = $s->accept or next;
			if (fork) { close $c; next }
			close $s; alarm 60;
			my $b = "";
			my $answered = 0;
			while (1) {
				while ($b !~ /\r\n\r\n/) { sysread($c, $b, 4096, length $b) or exit 0 }
				$b =~ s/^.*?\r\n\r\n//s;
				if ($mode eq "500") {
					syswrite($c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nerror\n");
				} elsif ($mode eq "close") {
					syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
					exit 0;
				} elsif ($mode eq "chunked") {
					syswrite($c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
				} elsif ($mode eq "hangup") {
					exit 0;
				} elsif ($mode eq "firstslow") {
					select(undef, undef, undef, 1.0) unless $answered++;
					syswrite($c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
				} # silent: keep reading until the client gives up
			}
		}' "$mode" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PID[$name]=$!
	PIDS+=($!)
	local i p
	for i in $(seq 100); do
		p=$(sed -n 's/^port //p' "$TMP/$name.out") && [ -n "$p" ] && break
		sleep 0.05
	done
	[ -n "$p" ] || { echo "fake $name did not start:"; cat "$TMP/$name.err"; return 1; }
	PORT[$name]=$p
}

# load NAME PORT[/PATH] ARGS...: run meshload --json against http://127.0.0.1:PORT[/PATH],
# JSON in $TMP/NAME.json, exit status in RC[NAME]
declare -A RC
load() {
	local name=$1 port=$2; shift 2
	"$LOAD" --url "http://127.0.0.1:$port" --json "$@" >"$TMP/$name.json" 2>"$TMP/$name.err"
	RC[$name]=$?
	cat "$TMP/$name.json" "$TMP/$name.err"
	return 0
}
expect() {
	[ "$1" = "$2" ] && return 0
	echo "expected: $1"; echo "got:      $2"; return 1
}
# jqok EXPR NAME: the JSON of run NAME satisfies EXPR
jqok() {
	jq -e "$1" "$TMP/$2.json" >/dev/null 2>&1 || {
		echo "failed: $1"; echo "json:   $(cat "$TMP/$2.json")"; return 1
	}
}
summary() {
	jq -r '"\(.connections) conn / \(.threads) thr: \(.requests) req in \(.duration_us) us = \(.qps)/s,
 mean \(.mean_us) us (Little \(.littles_law_mean_us)), p50 \(.p50_us), p99 \(.p99_us), p99.9 \(.p999_us), max \(.max_us),
 errors \(.errors) \(.errors_by_kind | tostring), reconnects \(.reconnects)"' \
		"$TMP/$1.json" 2>/dev/null | tr -d '\n'
}

# The counts and the rate must agree, with nothing wrong: shared by the good runs.
CONSISTENT='.requests > 0 and .errors == 0 and .reconnects == 0
	and ((.qps * .duration_us / 1e6 - .requests) | fabs) <= ([1, .requests * 1e-4] | max)
	and .connections_used == .connections
	and .min_us <= .p50_us and .p50_us <= .p90_us and .p90_us <= .p99_us
	and .p99_us <= .p999_us and .p999_us <= .max_us and .min_us <= .mean_us and .mean_us <= .max_us'
# |mean - Little| / Little below a fraction
little() { echo "((.mean_us - .littles_law_mean_us) | fabs) / .littles_law_mean_us < $1"; }

check "start meshapp fast and slow (--delay-us 2000)" eval \
	'start fast && start slow --delay-us 2000'
diag "ports: fast ${PORT[fast]:-?}, slow ${PORT[slow]:-?}"

# ------------------------------------------------------------ good runs
t_c1() {
	load c1 "${PORT[fast]}" -c 1 -d 2 --warmup 0.5 &&
		expect 0 "${RC[c1]}" && jqok "$CONSISTENT" c1 &&
		jqok '.connections == 1 and .threads == 1 and .duration_us == 2000000' c1
}
check "-c 1: requests > 0, no errors, qps * duration = requests" t_c1
diag "$(summary c1)"

t_little1() { jqok "$(little 0.05)" c1; }
check "-c 1: mean latency = Little's law (1 * duration / requests) within 5 %" t_little1

t_delay() {
	load delay "${PORT[slow]}" -c 1 -d 1 --warmup 0.2 &&
		expect 0 "${RC[delay]}" && jqok "$CONSISTENT" delay &&
		jqok '.p50_us >= 2000 and .p50_us < 4000 and .min_us >= 2000' delay &&
		jqok "$(little 0.05)" delay
}
check "--delay-us 2000: 2000 us <= p50 < 4000 us, Little's law within 5 %" t_delay
diag "$(summary delay)"

t_c50() {
	"$LOAD" --url "http://127.0.0.1:${PORT[fast]}/" -c 50 -t 2 -d 2 --warmup 0.5 --json \
		>"$TMP/c50.json" 2>"$TMP/c50.err" &
	local lp=$! n
	PIDS+=($lp)
	sleep 1.2 # inside the window
	# client side of the connections to the port: meshload's, established
	n=$(ss -Htn state established "( dport = :${PORT[fast]} )" | wc -l)
	wait $lp
	RC[c50]=$?
	cat "$TMP/c50.json" "$TMP/c50.err"
	expect 0 "${RC[c50]}" && expect 50 "$n" && jqok "$CONSISTENT" c50 &&
		jqok '.connections == 50 and .connections_used == 50 and .threads == 2' c50 &&
		jqok "$(little 0.10)" c50
}
check "-c 50 -t 2: 50 sockets established (ss), all 50 used, Little's law within 10 %" t_c50
diag "$(summary c50)"

t_text() {
	"$LOAD" --url "http://127.0.0.1:${PORT[fast]}/?size=1000" -c 2 -d 0.3 --warmup 0 >"$TMP/text" &&
		cat "$TMP/text" && grep -q "Little's law" "$TMP/text" &&
		grep -Eq '^  requests   [1-9][0-9]* \(' "$TMP/text" && grep -q '^  errors     0 ' "$TMP/text"
}
check "without --json: a readable summary" t_text

t_bigbody() {
	load big "${PORT[fast]}/?size=1000000" -c 2 -d 0.5 --warmup 0.1 &&
		expect 0 "${RC[big]}" && jqok "$CONSISTENT" big
}
check "1 MB bodies: read whole, keep-alive in sync" t_bigbody

# ----------------------------------------------------------- exit status
check "start and stop a meshapp to get a dead port" eval \
	'start gone && kill ${PID[gone]} && wait ${PID[gone]}'
t_dead() {
	load dead "${PORT[gone]:-1}" -c 4 -d 1
	expect 2 "${RC[dead]}" && grep -q 'refused' "$TMP/dead.err" && ! [ -s "$TMP/dead.json" ]
}
check "dead port: exit 2 at once, nothing on stdout" t_dead

t_usage() {
	local u="http://127.0.0.1:${PORT[fast]}/" rc=0
	"$LOAD" -c 1 -d 1; expect 2 $? || rc=1                       # no --url
	"$LOAD" --url "$u" -d 1; expect 2 $? || rc=1                 # no -c
	"$LOAD" --url "$u" -c 1; expect 2 $? || rc=1                 # no -d
	"$LOAD" --url "$u" -c 2 -t 3 -d 1; expect 2 $? || rc=1       # more threads than connections
	"$LOAD" --url "$u" -c 1 -d 1s; expect 2 $? || rc=1           # seconds are plain numbers
	"$LOAD" --url "https://127.0.0.1:1/" -c 1 -d 1; expect 2 $? || rc=1
	"$LOAD" --url "$u" -c 0 -d 1; expect 2 $? || rc=1
	"$LOAD" --url "$u" -c 1 -d 1 --warmup 2 --warmup-max 1; expect 2 $? || rc=1 # a cap below the warm-up
	"$LOAD" --help | grep -q -- '--warmup' || rc=1
	return $rc
}
check "usage errors exit 2" t_usage

# ------------------------------------------------- errors, one kind each
t_500() {
	fake e500 500 && load e500 "${PORT[e500]}" -c 2 -d 1 --warmup 0.2 &&
		expect 0 "${RC[e500]}" &&
		jqok '.requests > 0 and .errors == .requests and .errors_by_kind.status == .requests
			and .reconnects == 0' e500
}
check "a server answering 500: every request is a status error, exit 0" t_500
diag "$(summary e500)"

t_close() {
	fake eclose close && load eclose "${PORT[eclose]}" -c 2 -d 1 --warmup 0.2 &&
		expect 0 "${RC[eclose]}" &&
		jqok '.requests > 0 and .errors == 0 and .reconnects >= .requests - 2' eclose
}
check "Connection: close after every answer: reconnects counted, no errors" t_close
diag "$(summary eclose)"

# --new-connection-per-request: HTTP/1.0 clients, health checks, reconnecting
# clients. Each request on its own connection, timed from its connect(): at
# one client Little's law then holds with the connect and close inside the
# latency; against a keep-alive server whose first answer on a connection
# takes 1 s, every request takes 1 s (meshload closes itself, whatever the
# server says).
t_perreq() {
	load perreq "${PORT[fast]}" -c 1 -d 1 --warmup 0.2 --new-connection-per-request &&
		expect 0 "${RC[perreq]}" &&
		jqok '.requests > 0 and .errors == 0 and .connection_per_request == true
			and .reconnects >= .requests - 1' perreq &&
		jqok "$(little 0.05)" perreq && jqok '.connection_per_request == false' c1
}
check "--new-connection-per-request: a connection per request, Little's law within 5 % (connect timed)" t_perreq
diag "$(summary perreq)"

t_perreq_first() {
	fake firstslow2 firstslow &&
		load perfirst "${PORT[firstslow2]}" -c 2 -d 2.5 --warmup 0 --new-connection-per-request &&
		expect 0 "${RC[perfirst]}" &&
		jqok '.requests >= 2 and .errors == 0 and .min_us >= 1000000
			and .reconnects >= .requests - 2' perfirst
}
check "--new-connection-per-request on a keep-alive server: every request is a connection's first" t_perreq_first
diag "$(summary perfirst)"

t_chunked() {
	fake echunk chunked && load echunk "${PORT[echunk]}" -c 1 -d 0.5 --warmup 0 &&
		expect 0 "${RC[echunk]}" &&
		jqok '.requests == 0 and .errors_by_kind.malformed > 0 and .errors == .errors_by_kind.malformed' echunk
}
check "chunked responses are refused as malformed" t_chunked

t_silent() {
	fake esilent silent && load esilent "${PORT[esilent]}" -c 2 -d 1 --warmup 0 --timeout 0.2 &&
		expect 0 "${RC[esilent]}" &&
		jqok '.requests == 0 and .errors_by_kind.timeout >= 4 and .errors_by_kind.timeout <= 12
			and .errors == .errors_by_kind.timeout' esilent
}
check "a server that never answers: timeouts after --timeout (0.2 s), 2 connections" t_silent
diag "$(summary esilent)"

t_hangup() {
	fake ehang hangup && load ehang "${PORT[ehang]}" -c 1 -d 0.5 --warmup 0 &&
		expect 0 "${RC[ehang]}" &&
		jqok '.requests == 0 and .errors_by_kind.closed > 0 and .errors == .errors_by_kind.closed' ehang
}
check "a server that closes without answering: closed errors" t_hangup

# ------------------------------------------------------------ the warm-up
# At c=1000 through TLS sidecars every connection's first request waits for
# handshakes: the window opens only once every connection has answered.
t_warm() {
	fake firstslow firstslow && load warm "${PORT[firstslow]}" -c 4 -d 0.5 --warmup 0.1 &&
		expect 0 "${RC[warm]}" &&
		jqok '.warmed_connections == 4 and .warmup_us >= 1000000 and .warmup_us < 3000000
			and .requests > 0 and .errors == 0 and .max_us < 500000' warm
}
check "the window opens once every connection has answered (first answers after 1 s)" t_warm
diag "$(summary warm), warm-up $(jq .warmup_us "$TMP/warm.json" 2>/dev/null) us"

t_warm_cap() {
	fake esilent2 silent && load warmcap "${PORT[esilent2]}" -c 2 -d 0.5 --warmup 0.2 --timeout 0.3 &&
		expect 0 "${RC[warmcap]}" &&
		jqok '.warmed_connections == 0 and .warmup_us >= 500000 and .warmup_us < 900000
			and .requests == 0 and .errors > 0' warmcap &&
		load warmcap2 "${PORT[esilent2]}" -c 2 -d 0.3 --warmup 0.2 --warmup-max 1.2 --timeout 0.3 &&
		jqok '.warmup_us >= 1200000 and .warmup_us < 1600000 and .requests == 0' warmcap2
}
check "a connection that never answers holds the window --warmup + --timeout (or --warmup-max) at most" t_warm_cap
diag "$(summary warmcap), warm-up $(jq .warmup_us "$TMP/warmcap.json" 2>/dev/null) us"

# --cpu-stat: the CPU time of cgroups in the window (the bench's CPU per
# request). The machine's root cgroup v2 counts everything, meshapp included.
CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
t_cpu() {
	load cpu "${PORT[fast]}" -c 2 -d 1 --warmup 0.2 --cpu-stat "$CG/cpu.stat" &&
		expect 0 "${RC[cpu]}" &&
		jqok ".window_cpu_us > 50000 and .window_cpu_us < $(nproc) * 1000000 * 1.1" cpu &&
		{ "$LOAD" --url "http://127.0.0.1:${PORT[fast]}/" -c 1 -d 1 --cpu-stat /nonexistent/cpu.stat
		  expect 2 $?; }
}
if [ -n "$CG" ] && [ -r "$CG/cpu.stat" ]; then
	check "--cpu-stat: CPU time in the window, within what the CPUs can give; an unreadable file exits 2" t_cpu
	diag "window CPU $(jq .window_cpu_us "$TMP/cpu.json" 2>/dev/null) us in 1 s on $(nproc) CPUs"
else
	N=$((N + 1)); echo "ok $N - # SKIP no cgroup v2 cpu.stat on this machine"
fi

t_dies() {
	start victim || return 1
	"$LOAD" --url "http://127.0.0.1:${PORT[victim]}/" -c 4 -d 1.5 --warmup 0.2 --json \
		>"$TMP/dies.json" 2>"$TMP/dies.err" &
	local lp=$!
	PIDS+=($lp)
	sleep 0.8
	kill "${PID[victim]}"
	wait $lp
	RC[dies]=$?
	cat "$TMP/dies.json" "$TMP/dies.err"
	expect 0 "${RC[dies]}" &&
		jqok '.requests > 0 and .errors_by_kind.connect > 0 and .errors > 0' dies
}
check "the server dies mid-run: connect errors counted, the run completes, exit 0" t_dies
diag "$(summary dies)"

echo "1..$N"
