#!/usr/bin/env bash
# meshcut-webhook over real HTTPS: every AdmissionReview fixture in
# tests/webhook/cases is POSTed and its answer checked against the golden
# file (JSON Patch applied with python3-jsonpatch), each mutated pod is sent
# again (reinvocation must not patch twice), hostile input is refused without
# a crash, and the serving certificate is rotated twice (files rewritten in
# place, then the kubelet's ..data symlink swap) while the same process keeps
# serving, a slow request in flight across the rotation included.
#
#   UPDATE_GOLDEN=1 prove -v tests/integration/webhook.t   rewrites the .out.json files
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"
BIN=$BUILD/meshcut-webhook
CASES=$ROOT/tests/webhook/cases
GOLDEN=$ROOT/tests/webhook/golden.py

fails() { ! "$@"; }
bail() { echo "Bail out! $*"; exit 1; }

[ -x "$BIN" ] || bail "$BIN missing: run make first"
python3 -c 'import jsonpatch' 2>/dev/null || bail "python3-jsonpatch missing (apt-get install python3-jsonpatch)"

T=$(mktemp -d /tmp/meshcut-webhook-t.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- a test CA and serving certificates (SAN 127.0.0.1 and localhost) ---
make_ca() { # NAME
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$T/$1.key" -out "$T/$1.crt" 2>/dev/null
}
make_cert() { # CA SERIAL KEYTYPE(rsa|ec) OUTDIR
	local ca=$1 serial=$2 dir=$4
	mkdir -p "$dir"
	if [ "$3" = rsa ]; then
		openssl req -newkey rsa:2048 -nodes -subj /CN=meshcut-webhook \
			-keyout "$dir/tls.key" -out "$T/req.csr" 2>/dev/null
	else
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=meshcut-webhook \
			-keyout "$dir/tls.key" -out "$T/req.csr" 2>/dev/null
	fi
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$T/ext"
	openssl x509 -req -in "$T/req.csr" -CA "$T/$ca.crt" -CAkey "$T/$ca.key" -set_serial "$serial" \
		-days 1 -extfile "$T/ext" -out "$dir/tls.crt" 2>/dev/null
}
make_ca ca1 && make_ca ca2 && make_ca ca3 || bail "openssl cannot make a CA"

# the kubelet's layout of a mounted Secret: tls.crt -> ..data/tls.crt, ..data -> ..v1
S=$T/secret
make_cert ca1 0x1001 rsa "$S/..v1" || bail "openssl cannot make a certificate"
ln -s ..v1 "$S/..data"
ln -s ..data/tls.crt "$S/tls.crt"
ln -s ..data/tls.key "$S/tls.key"

start_webhook() { # LOG EXTRA-ARGS...
	local log=$1; shift
	"$BIN" --cert "$S/tls.crt" --key "$S/tls.key" --listen 127.0.0.1:0 \
		--init-image registry.example/meshcut:test --reload-interval 1 "$@" 2>"$log" &
	WPID=$!
	PIDS+=("$WPID")
	for _ in $(seq 50); do
		PORT=$(sed -n 's/.*serving https on .* (port \([0-9]*\)).*/\1/p' "$log")
		[ -n "$PORT" ] && return 0
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" >&2
	return 1
}
LOG=$T/webhook.log
start_webhook "$LOG" -v || bail "meshcut-webhook did not start"
URL=https://127.0.0.1:$PORT
CURL=(curl -sS --max-time 20 --cacert "$T/ca1.crt")

# --- probes and routes ---
check "GET /healthz is 200" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ]
check "GET /readyz is 200" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/readyz")" = 200 ]
check "GET /mutate is 405" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/mutate")" = 405 ]
check "unknown path is 404" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/nope")" = 404 ]

post() { # FILE -> prints the HTTP status, body in $T/body
	"${CURL[@]}" -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary @"$1" "$URL/mutate"
}

# --- golden AdmissionReviews ---
for in in "$CASES"/*.in.json; do
	name=$(basename "$in" .in.json)
	out=$CASES/$name.out.json
	status=$(post "$in")
	if [ "${UPDATE_GOLDEN:-}" = 1 ]; then
		python3 "$GOLDEN" write "$in" "$status" "$T/body" > "$out.tmp" && mv "$out.tmp" "$out"
	fi
	if [ ! -f "$out" ]; then
		not_ok "$name: no golden file $out (UPDATE_GOLDEN=1 writes it)"
		continue
	fi
	check "$name: answer matches $(basename "$out")" python3 "$GOLDEN" check "$in" "$out" "$status" "$T/body"
	if jq -e '.patch != null' "$out" >/dev/null 2>&1; then
		python3 "$GOLDEN" again "$out" > "$T/again.json"
		status=$(post "$T/again.json")
		check "$name: the mutated pod sent again gets no second patch" \
			jq -e --arg s "$status" '$s == "200" and .response.allowed == true and (.response | has("patch") | not)' "$T/body"
	fi
done
check "the classic pod's patch also says where: meshcut-init appended after istio-init" \
	jq -e '.patch[0].path == "/spec/initContainers/-" and .pod.spec.initContainers[-1].name == "meshcut-init"' \
	"$CASES/classic.out.json"
check "the native-sidecar pod's meshcut-init sits right after istio-proxy" \
	jq -e '[.pod.spec.initContainers[].name] == ["istio-validation","istio-proxy","meshcut-init","migrate"]' \
	"$CASES/native-sidecar.out.json"

check "meshcut.io/app-sockets: tcp reaches meshcut-init as MESHCUT_APP_SOCKETS=tcp" \
	jq -e '[.pod.spec.initContainers[-1].env[] | select(.name == "MESHCUT_APP_SOCKETS") | .value] == ["tcp"]' \
	"$CASES/app-sockets-tcp.out.json"
check "without the annotation meshcut-init gets MESHCUT_APP_SOCKETS=shortcut" \
	jq -e '[.pod.spec.initContainers[-1].env[] | select(.name == "MESHCUT_APP_SOCKETS") | .value] == ["shortcut"]' \
	"$CASES/classic.out.json"
check "meshcut.io/app-reads: recv reaches meshcut-init as MESHCUT_APP_READS=recv" \
	jq -e '[.pod.spec.initContainers[-1].env[] | select(.name == "MESHCUT_APP_READS") | .value] == ["recv"]' \
	"$CASES/app-reads-recv.out.json"
check "without the annotation meshcut-init gets MESHCUT_APP_READS=any" \
	jq -e '[.pod.spec.initContainers[-1].env[] | select(.name == "MESHCUT_APP_READS") | .value] == ["any"]' \
	"$CASES/classic.out.json"

env_of() { # CASE VAR -> jq test of meshcut-init's VAR in CASE's mutated pod
	jq -r --arg v "$2" '[.pod.spec.initContainers[] | select(.name == "meshcut-init") | .env[] | select(.name == $v) | .value] | .[0]' \
		"$CASES/$1.out.json"
}
# Istio's includeInboundPorts list: istio-iptables redirects only those ports
# and ignores -d, so meshcut-init must not be handed an exclude list (agents
# refused the combination, and such pods ran without meshcut)
expect_eq "include list: MESHCUT_INCLUDE_INBOUND_PORTS is the list" "8080,9090" "$(env_of include-inbound MESHCUT_INCLUDE_INBOUND_PORTS)"
expect_eq "include list: MESHCUT_EXCLUDE_INBOUND_PORTS is empty (-d plays no part)" "" "$(env_of include-inbound MESHCUT_EXCLUDE_INBOUND_PORTS)"
expect_eq "include \"*\": MESHCUT_EXCLUDE_INBOUND_PORTS keeps -d" "15090,15021,15020" "$(env_of classic MESHCUT_EXCLUDE_INBOUND_PORTS)"
# Istio ambient: a pod ztunnel captures is left alone, with the reason in the
# log; and meshcut-init reads the mark the CNI plugin sets after admission
check "ambient-captured: left alone, the log says why" \
	grep -q 'shop/cart-7d4b9c-\*: captured by Istio ambient (ambient.istio.io/redirection: enabled), allowed unchanged' "$LOG"
expect_eq "meshcut-init gets POD_AMBIENT_REDIRECTION from the pod's annotation (downward API)" \
	"metadata.annotations['ambient.istio.io/redirection']" \
	"$(jq -r '[.pod.spec.initContainers[] | select(.name == "meshcut-init") | .env[] | select(.name == "POD_AMBIENT_REDIRECTION") | .valueFrom.fieldRef.fieldPath] | .[0]' "$CASES/classic.out.json")"

# a node without an agent (not scheduled yet, left out, crash-looping) must
# not keep injected pods from starting: "Directory" failed their mount there
for out in "$CASES"/*.out.json; do
	jq -e '.patch != null' "$out" >/dev/null || continue
	check "$(basename "$out" .out.json): the socket volume is a hostPath of type DirectoryOrCreate" \
		jq -e '[.pod.spec.volumes[] | select(.name == "meshcut-socket") | .hostPath] == [{"path": "/var/run/meshcut", "type": "DirectoryOrCreate"}]' "$out"
done

# --- hostile input: refused, never fatal ---
head -c $((3 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' > "$T/big"
check "a body over 3 MiB is 413" [ "$(post "$T/big")" = 413 ]
check "a chunked body over 3 MiB is 413" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' \
	-H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$URL/mutate")" = 413 ]
python3 -c 'print("[" * 200000 + "]" * 200000)' > "$T/deep"
check "200000 nested arrays are 400" [ "$(post "$T/deep")" = 400 ]
head -c 65536 /dev/urandom > "$T/random"
check "random bytes are 400" [ "$(post "$T/random")" = 400 ]
printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a\\u0000b","object":{}}}' > "$T/nul"
check "a uid with a NUL does not crash it" [ "$(post "$T/nul")" != 000 ]
: > "$T/empty"
check "an empty body is 400" [ "$(post "$T/empty")" = 400 ]
check "still alive and healthy after all that" kill -0 "$WPID"
check "GET /healthz still 200" [ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ]

# --- a few idle clients cannot tie it up ---
# Any pod can reach the webhook. Four addresses each open 50 idle connections
# and 5 that start a TLS handshake and stall, and open them again as they are
# closed; meanwhile the API server (another address, 127.0.0.2) must still be
# answered, well before the old 30 s idle timeout freed anything (it used to
# wait in the accept queue behind them: 32 connections in all).
# A real ClientHello (the first flight of a TLS client), for the clients below
# that start a handshake and never finish it
python3 -c '
import ssl, sys
ctx = ssl.create_default_context()
bio_out = ssl.MemoryBIO()
try:
    ctx.wrap_bio(ssl.MemoryBIO(), bio_out, server_hostname="x").do_handshake()
except ssl.SSLWantReadError:
    sys.stdout.buffer.write(bio_out.read())' >"$T/hello.bin"
cat >"$T/hold.py" <<'PY'
import json, select, socket, sys, time
port, srcs, n_idle, n_tls, seconds = int(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
hello = open(sys.argv[6], "rb").read()[:40]  # the first 40 bytes, never the rest
def dial(kind):
    s = socket.socket()
    s.bind((kind[0], 0))
    s.connect(("127.0.0.1", port))
    if kind[1]:
        s.send(hello)
    return s
held = {}
for src in srcs:
    for i in range(n_idle + n_tls):
        kind = (src, i < n_tls)
        held[dial(kind)] = kind
print("ready", flush=True)
closed = 0
end = time.time() + seconds
while time.time() < end:
    r, _, _ = select.select(list(held), [], [], 0.2)
    for s in r:
        try:
            gone = s.recv(4096) == b""
        except OSError:
            gone = True
        if gone:
            kind = held.pop(s)
            s.close()
            closed += 1
            try:
                held[dial(kind)] = kind
            except OSError:
                pass
            time.sleep(0.002)  # a few hundred a second: pressure, not a CPU hog
print(json.dumps({"closed_by_server": closed}), flush=True)
PY
FLOOD=127.0.0.1,127.0.0.5,127.0.0.6,127.0.0.7
python3 "$T/hold.py" "$PORT" "$FLOOD" 50 5 15 "$T/hello.bin" >"$T/hold.out" 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
wait_for 100 grep -qs ready "$T/hold.out"
sleep 1
# connections the webhook has accepted and holds, per flooding address
held=$(ss -Htnp state established "( sport = :$PORT )" 2>/dev/null | awk -v pid="pid=$WPID," \
	'index($0, pid) { split($4, a, ":"); n[a[1]]++ } END { for (ip in n) { printf "%s%s=%d", sep, ip, n[ip]; sep = " " } }')
t0=$(date +%s.%N)
status=$(curl -sS --max-time 8 --interface 127.0.0.2 --cacert "$T/ca1.crt" -o "$T/body" -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$CASES/classic.in.json" "$URL/mutate" 2>"$T/curl.err")
took=$(echo "$(date +%s.%N) - $t0" | bc)
diag "under the flood the webhook held $held connections; the API server's review took $took s (status $status: $(cat "$T/curl.err"))"
check "flooded from four addresses: a review from another address is answered (curl --max-time 8)" \
	jq -e --arg s "$status" '$s == "200" and .response.allowed and (.response.patch | length > 0)' "$T/body"
check "flooded: the webhook holds at most 32 connections of any one address ($held)" \
	awk -v h="$held" 'BEGIN { n = split(h, f, " "); for (i = 1; i <= n; i++) { split(f[i], kv, "="); if (kv[2] > 32) exit 1 } exit n < 1 }' 
wait "$HOLD"
diag "the flooding addresses: $(tail -1 "$T/hold.out")"

# memory stays bounded however many connections there are: request bodies
# take at most 48 MiB in all. 17 uploads of 3 MiB that stall 64 bytes before
# their end fill that (the 17th is refused; the 16 others leave 1 KiB, less
# than a review), a review then gets a 503 (the API server admits the pod
# unchanged), and once they are gone it gets its answer. The uploads trickle
# one byte a second, so the webhook's 5 s idle timeout never closes them
# however slowly a loaded machine gets to the review.
cat >"$T/bodies.py" <<'PY'
import os, socket, ssl, sys, time
port, n, size, release = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
hold = 64
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
conns = []
for _ in range(n):
    raw = socket.socket(); raw.bind(("127.0.0.8", 0)); raw.connect(("127.0.0.1", port))
    s = ctx.wrap_socket(raw)
    s.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % size + b" " * (size - hold))
    conns.append(s)
print("ready", flush=True)
for _ in range(hold - 1):  # never the last byte: no upload completes
    if os.path.exists(release):
        break
    for s in conns:
        try:
            s.sendall(b" ")
        except OSError:
            pass
    time.sleep(1)
for s in conns:
    s.close()
PY
python3 "$T/bodies.py" "$PORT" 17 $((3 * 1024 * 1024)) "$T/release" >"$T/bodies.out" 2>&1 &
BODIES=$!
PIDS+=("$BODIES")
unread() { # bytes of 127.0.0.8's uploads the webhook has not read yet
	ss -Htn state established "( sport = :$PORT )" | awk '$4 ~ /^127\.0\.0\.8:/ { q += $1 } END { print q + 0 }'
}
drained() { [ "$(unread)" = 0 ]; }
wait_for 100 grep -qs ready "$T/bodies.out" && wait_for 50 drained
review() { curl -sS --max-time 8 --interface 127.0.0.2 --cacert "$T/ca1.crt" -o /dev/null -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$CASES/classic.in.json" "$URL/mutate"; }
expect_eq "48 MiB of bodies in flight: a review gets a 503" 503 "$(review)"
touch "$T/release"
wait "$BODIES"
expect_eq "once those connections are gone, the review is answered again" 200 "$(review)"

# idle connections are closed after the idle timeout (5 s), and so is a TLS
# handshake that never completes, even one that keeps dribbling bytes
cat >"$T/idle.py" <<'PY'
import socket, sys, threading, time
port, limit, hello = int(sys.argv[1]), float(sys.argv[2]), open(sys.argv[3], "rb").read()
out = {}
def watch(name, src, dribble):
    s = socket.socket(); s.bind((src, 0)); s.connect(("127.0.0.1", port)); s.settimeout(0.5)
    t0, i = time.time(), 0
    while time.time() - t0 < limit:
        try:
            if dribble and i < len(hello) - 1:
                s.send(hello[i:i + 1]); i += 1  # one byte a second: never idle, never done
            if s.recv(1) == b"":
                break
        except socket.timeout:
            time.sleep(0.5)
            continue
        except OSError:
            break
    else:
        out[name] = "open after %.0f s" % limit
        return
    out[name] = "closed after %.1f s" % (time.time() - t0)
ts = [threading.Thread(target=watch, args=a) for a in (("idle", "127.0.0.3", False), ("dribble", "127.0.0.4", True))]
[t.start() for t in ts]; [t.join() for t in ts]
print(out["idle"]); print(out["dribble"])
PY
{ read -r idle; read -r dribble; } < <(python3 "$T/idle.py" "$PORT" 15 "$T/hello.bin")
check "an idle connection is closed within 15 s ($idle)" grep -q closed <<<"$idle"
check "a TLS handshake dribbling a byte a second is closed within 15 s ($dribble)" grep -q closed <<<"$dribble"

# --- certificate rotation without restart ---
served_serial() {
	openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
wait_serial() { # SERIAL
	for _ in $(seq 100); do
		[ "$(served_serial)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
check "serves certificate 1001 (CA 1)" [ "$(served_serial)" = 1001 ]

# rotation 1: new CA, new key (EC now), written over the files in place; the
# key goes first, so for a moment key and certificate do not match
make_cert ca2 0x2002 ec "$T/new2"
cat "$T/new2/tls.key" > "$S/..v1/tls.key"
sleep 1.5
cat "$T/new2/tls.crt" > "$S/..v1/tls.crt"
check "rotation in place: certificate 2002 is served" wait_serial 2002
check "rotation in place: curl trusts it with CA 2" \
	[ "$(curl -sS --max-time 5 --cacert "$T/ca2.crt" "$URL/healthz")" = ok ]
check "rotation in place: CA 1 no longer verifies" \
	fails curl -sS --max-time 5 --cacert "$T/ca1.crt" -o /dev/null "$URL/healthz" 2>/dev/null
check "rotation in place: same process" kill -0 "$WPID"
check "rotation in place: the half-written pair was refused and logged" \
	grep -q 'certificate .* with key .*' "$LOG"

# rotation 2: the kubelet's atomic ..data swap, with a slow request in flight
python3 - "$CASES/classic.in.json" "$T/slow.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["request"]["uid"] = "slow-request"
r["request"]["object"]["metadata"]["annotations"]["filler"] = "x" * 600000
json.dump(r, open(sys.argv[2], "w"))
PY
curl -sS --max-time 60 --cacert "$T/ca2.crt" --limit-rate 150k -o "$T/slow.body" -w '%{http_code}' \
	-H 'Content-Type: application/json' --data-binary @"$T/slow.json" "$URL/mutate" > "$T/slow.status" &
SLOW=$!
PIDS+=("$SLOW")
sleep 1
make_cert ca3 0x3003 rsa "$S/..v2"
ln -s ..v2 "$S/..data_tmp" && mv -T "$S/..data_tmp" "$S/..data"
check "symlink swap: certificate 3003 is served" wait_serial 3003
check "symlink swap: curl trusts it with CA 3" \
	[ "$(curl -sS --max-time 5 --cacert "$T/ca3.crt" "$URL/healthz")" = ok ]
check "symlink swap: the slow request was still in flight" kill -0 "$SLOW"
wait "$SLOW"
check "the request in flight across the rotation completed (200, its uid)" \
	jq -e --arg s "$(cat "$T/slow.status")" '$s == "200" and .response.uid == "slow-request" and .response.allowed' "$T/slow.body"
check "symlink swap: same process" kill -0 "$WPID"

# --- shutdown: unready first, then a clean exit ---
kill -TERM "$WPID"
sleep 0.5
URL3=(curl -sS --max-time 5 --cacert "$T/ca3.crt" -o /dev/null -w '%{http_code}')
check "after SIGTERM /readyz is 503" [ "$("${URL3[@]}" "$URL/readyz")" = 503 ]
check "after SIGTERM it still serves /mutate" [ "$("${URL3[@]}" --data-binary @"$CASES/classic.in.json" "$URL/mutate")" = 200 ]
wait "$WPID"; rc=$?
check "exits 0 after the shutdown delay" [ "$rc" = 0 ]

# --- refuses to start on a bad flag or a bad pair ---
check "refuses --init-memory 16MB" fails "$BIN" --cert "$S/tls.crt" --key "$S/tls.key" --init-memory 16MB 2>/dev/null
check "refuses a key that does not match the certificate" \
	fails "$BIN" --cert "$S/tls.crt" --key "$T/new2/tls.key" --listen 127.0.0.1:0 2>/dev/null

tap_done
[ "$TAP_FAILED" = 0 ]
