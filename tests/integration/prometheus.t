#!/usr/bin/env bash
# Metrics as Prometheus sees them (docs/metrics.md): a real Prometheus server
# (Debian's package) scrapes every node's agent and a webhook. Prometheus runs
# in node1's network namespace, as a cluster's Prometheus would scrape node
# IPs: it reaches node1's agent and node2's over the underlay (the agents
# listen with --metrics 0.0.0.0:9464 in their node's namespace, as the chart's
# --metrics $(HOST_IP):PORT does on a node, and keep their probes' listener on
# 127.0.0.1:9463, which a client holding every metrics connection it may have
# cannot starve), and a webhook this test starts in
# the same namespace on 127.0.0.1 (the virtual cluster runs none). Checked:
# `promtool check metrics` on every page; no label value that looks like an
# IP, a MAC or a netns cookie; the TCP listener serves no /v1/*; every target
# is up; after traffic through the pods, the redirected-message counters rose
# on both nodes and cross-node packets were redirected (through the query
# API); registrations counted by outcome (a malformed one refused:
# bad_request); webhook admissions by outcome and their latency histogram;
# the metric names docs/metrics.md lists and the names served, compared both
# ways; every expression of the chart's Grafana dashboard evaluates to a
# non-empty result.
. "$(dirname "$0")/lib.sh"
require_root
for t in prometheus promtool; do
  command -v "$t" >/dev/null ||
    { echo "1..0 # SKIP $t not installed (Debian package prometheus: make deps)"; exit 0; }
done
vc_test_cluster mcprom
TEST_TMP=$(mktemp -d)
PIDS=()
stop_procs() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap 'stop_procs; vc_test_cleanup' EXIT
trap 'exit 1' INT TERM
DOC=$ROOT/docs/metrics.md
DASH=$ROOT/charts/meshcut/files/grafana-dashboard.json
APORT=9464 WPORT=9465 HPORT=8443 PPORT=9090 LPORT=9463

VC_AGENT_ARGS="--http 127.0.0.1:$LPORT --metrics 0.0.0.0:$APORT" "$VC" up --topology "$ROOT/tests/topologies/bookinfo.json" --meshcut \
  >"$TEST_TMP/up.log" 2>&1 ||
  { echo "1..0 # SKIP cluster did not come up"; sed 's/^/# /' "$TEST_TMP/up.log"; exit 1; }
N1=$(node_netns node1)
in_n1() { nsenter --net="/run/netns/$N1" -- "$@"; }
mapfile -t NODE_IPS < <("$VC" status --json | jq -r '.nodes[].underlay_ip')
MESHED=$("$VC" status --json | jq '[.pods[] | select(.meshed)] | length')

# --- a webhook in node1's namespace, with its plain-HTTP metrics listener ---
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=meshcut-webhook \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TEST_TMP/tls.key" -out "$TEST_TMP/tls.crt" 2>/dev/null
# (nsenter itself, not a shell function: $! is then the process to kill)
nsenter --net="/run/netns/$N1" -- "$BUILD/meshcut-webhook" --cert "$TEST_TMP/tls.crt" --key "$TEST_TMP/tls.key" \
  --listen "127.0.0.1:$HPORT" --metrics-listen "127.0.0.1:$WPORT" --shutdown-delay 0 \
  2>"$TEST_TMP/webhook.log" &
PIDS+=($!)
wait_for 100 in_n1 curl -sf -o /dev/null "http://127.0.0.1:$WPORT/metrics" ||
  { sed 's/^/# /' "$TEST_TMP/webhook.log"; echo "Bail out! the webhook's metrics listener did not come up"; exit 1; }

page() { in_n1 curl -sf --max-time 10 "$1"; } # URL
TARGETS=()
for ip in "${NODE_IPS[@]}"; do TARGETS+=("$ip:$APORT"); done

# --- the pages themselves ---
for t in "${TARGETS[@]}" "127.0.0.1:$WPORT"; do
  page "http://$t/metrics" >"$TEST_TMP/page" || not_ok "GET http://$t/metrics"
  if out=$(promtool check metrics <"$TEST_TMP/page" 2>&1); then
    ok "promtool check metrics: http://$t/metrics ($(grep -c '^# TYPE' "$TEST_TMP/page") families)"
  else
    not_ok "promtool check metrics: http://$t/metrics"; diag "$out"
  fi
  # label values: fixed words, never an address or a cookie
  bad=$(grep -v '^#' "$TEST_TMP/page" | grep -oE '="[^"]*"' |
    grep -E '"([0-9]{1,3}\.){3}[0-9]{1,3}"|([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}|:[0-9a-fA-F]*:|"[0-9]{6,}"' | sort -u)
  expect_eq "http://$t/metrics: no label value is an IP, a MAC or a netns cookie" "" "$bad"
done
code=$(in_n1 curl -s -o /dev/null -w '%{http_code}' "http://${TARGETS[1]}/v1/pods")
expect_eq "the agent's metrics listener serves no /v1/* (GET /v1/pods from another node)" 404 "$code"
code=$(in_n1 curl -s -o /dev/null -w '%{http_code}' "http://${TARGETS[1]}/healthz")
expect_eq "... nor the probes' /healthz: /metrics only" 404 "$code"
# a client that holds every connection it may have (4 per address) gets no
# fifth, and the node's probes do not notice: they have their own listener
N2=$(node_netns node2)
in_n1 bash -c "exec 3<>/dev/tcp/${TARGETS[1]%:*}/$APORT 4<>/dev/tcp/${TARGETS[1]%:*}/$APORT \
  5<>/dev/tcp/${TARGETS[1]%:*}/$APORT 6<>/dev/tcp/${TARGETS[1]%:*}/$APORT; sleep 4" &
holder=$!
PIDS+=($holder)
sleep "$(slow 1)"
code=$(in_n1 curl -s -o /dev/null --max-time 3 -w '%{http_code}' "http://${TARGETS[1]}/metrics")
expect_eq "a fifth connection from an address that holds 4 gets no answer" 000 "$code"
code=$(nsenter --net="/run/netns/$N2" -- curl -s -o /dev/null --max-time 3 -w '%{http_code}' \
  "http://127.0.0.1:$LPORT/healthz")
expect_eq "... while node2's liveness probe, on its loopback listener, answers" 200 "$code"
wait "$holder" 2>/dev/null
wait_for 100 in_n1 curl -sf -o /dev/null "http://${TARGETS[1]}/metrics"
check "... and once they are closed, /metrics answers again" in_n1 curl -sf -o /dev/null "http://${TARGETS[1]}/metrics"

# --- Prometheus ---
targets_yaml() { local t s=""; for t in "$@"; do s+="'$t', "; done; echo "[${s%, }]"; }
cat >"$TEST_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: meshcut-agent
    static_configs:
      - targets: $(targets_yaml "${TARGETS[@]}")
  - job_name: meshcut-webhook
    static_configs:
      - targets: ['127.0.0.1:$WPORT']
EOF
promtool check config "$TEST_TMP/prometheus.yml" >/dev/null 2>&1 ||
  { echo "Bail out! promtool check config failed"; exit 1; }
nsenter --net="/run/netns/$N1" -- prometheus --config.file="$TEST_TMP/prometheus.yml" --storage.tsdb.path="$TEST_TMP/data" \
  --web.listen-address="127.0.0.1:$PPORT" >"$TEST_TMP/prometheus.log" 2>&1 &
PIDS+=($!)
# promq EXPR: the query's result vector (JSON); promv EXPR: its first value
promq() {
  in_n1 curl -s --max-time 10 --data-urlencode "query=$1" "http://127.0.0.1:$PPORT/api/v1/query" |
    jq -c 'if .status == "success" then .data.result else error(.error) end'
}
promv() { promq "$1" | jq -r '.[0].value[1] // "none"'; }
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "none" && (b == "none" || a + 0 > b + 0)) }'; }
eqv() { [ "$(promv "$1")" = "$2" ]; }

want_up=$(( ${#TARGETS[@]} + 1 ))
if wait_for 300 eqv 'sum(up)' "$want_up"; then
  ok "Prometheus scrapes every target: ${#TARGETS[@]} agents and the webhook up"
else
  not_ok "Prometheus scrapes every target (sum(up) $(promv 'sum(up)'), want $want_up)"
  diag "$(in_n1 curl -s "http://127.0.0.1:$PPORT/api/v1/targets" | jq -c '.data.activeTargets[] | {scrapeUrl, health, lastError}')"
  sed 's/^/# /' "$TEST_TMP/prometheus.log" | tail -20
fi

# --- registrations: every meshed pod, then one malformed request ---
wait_for 100 eqv 'sum(meshcut_pods_registered)' "$MESHED"
expect_eq "meshcut_pods_registered: every meshed pod, summed over the nodes" "$MESHED" \
  "$(promv 'sum(meshcut_pods_registered)')"
acc=$(promv 'sum(meshcut_registrations_total{result="accepted",reason="new"})')
check "meshcut_registrations_total{result=accepted,reason=new} counts them ($acc >= $MESHED)" \
  awk -v a="$acc" -v b="$MESHED" 'BEGIN { exit !(a != "none" && a + 0 >= b) }'
code=$(nsenter --net="/run/netns/$(pod_netns client)" -- curl -s -o /dev/null -w '%{http_code}' \
  --unix-socket "$(node_sock node1)" -X POST -d 'not json' http://meshcut-agent/v1/pods)
expect_eq "a malformed registration from a pod is refused" 400 "$code"
q="sum(meshcut_registrations_total{result=\"refused\",reason=\"bad_request\",instance=\"${TARGETS[0]}\"})"
wait_for 100 eqv "$q" 1
expect_eq "Prometheus counts it: refused, bad_request, on node1" 1 "$(promv "$q")"

# --- traffic through the pods: the redirect counters rise on both nodes ---
per_node() { promq "sum by (instance) ($1)" | jq -r --arg i "$2" '[.[] | select(.metric.instance == $i)][0].value[1] // "none"'; }
declare -A before
for t in "${TARGETS[@]}"; do before[$t]=$(per_node meshcut_redirected_messages_total "$t"); done
cross0=$(promv 'sum(meshcut_cross_packets_total{result="redirected"})')
vcx client -- "$BUILD/tests/meshload" --url "http://$(svc_addr productpage)/" -c 2 -d "$(slow 2)" \
  --warmup 0 --json >"$TEST_TMP/load.json" 2>&1
diag "load: $(jq -c '{requests, errors}' "$TEST_TMP/load.json" 2>/dev/null || head -c 300 "$TEST_TMP/load.json")"
for t in "${TARGETS[@]}"; do
  rose() { gt "$(per_node meshcut_redirected_messages_total "$t")" "${before[$t]}"; }
  wait_for 100 rose
  now=$(per_node meshcut_redirected_messages_total "$t")
  check "meshcut_redirected_messages_total rose on $t (${before[$t]} -> $now), via the query API" gt "$now" "${before[$t]}"
done
cross_rose() { gt "$(promv 'sum(meshcut_cross_packets_total{result="redirected"})')" "$cross0"; }
wait_for 100 cross_rose
check "meshcut_cross_packets_total{result=redirected} rose ($cross0 -> $(promv 'sum(meshcut_cross_packets_total{result="redirected"})'))" cross_rose
joined_q='sum(max_over_time(meshcut_pairs{state="joined"}[5m]))'
dir_q='sum(max_over_time(meshcut_pair_directions{state="redirected"}[5m]))'
check "meshcut_pairs{state=joined} saw live pairs during the load ($(promv "$joined_q"))" gt "$(promv "$joined_q")" 0
check "meshcut_pair_directions{state=redirected} saw them on the shortcut ($(promv "$dir_q"))" gt "$(promv "$dir_q")" 0
rate_q='sum(rate(meshcut_redirected_bytes_total[1m]))'
check "rate() over the redirected bytes is positive ($(promv "$rate_q") B/s)" gt "$(promv "$rate_q")" 0

# --- webhook admissions ---
n_inj=0 n_bad=0
for f in "$ROOT"/tests/webhook/cases/*.in.json; do
  code=$(in_n1 curl -s --max-time 10 --cacert "$TEST_TMP/tls.crt" -X POST -H 'Content-Type: application/json' \
    --data-binary "@$f" -o "$TEST_TMP/review.json" -w '%{http_code}' "https://127.0.0.1:$HPORT/mutate")
  [ "$code" = 400 ] && n_bad=$((n_bad + 1))
  jq -e '.response.patch' "$TEST_TMP/review.json" >/dev/null 2>&1 && n_inj=$((n_inj + 1))
done
in_n1 curl -s --max-time 10 --cacert "$TEST_TMP/tls.crt" -X POST -d '{' "https://127.0.0.1:$HPORT/mutate" >/dev/null
q='sum(meshcut_webhook_admissions_total{outcome="injected"})'
wait_for 100 eqv "$q" "$n_inj"
expect_eq "webhook: injected admissions as Prometheus sees them (the cases that got a patch)" "$n_inj" "$(promv "$q")"
q='sum(meshcut_webhook_admissions_total{outcome="error",reason="bad_request"})'
wait_for 100 eqv "$q" "$((n_bad + 1))"
expect_eq "webhook: the malformed reviews counted as error, bad_request ($n_bad cases answered 400, and '{')" \
  "$((n_bad + 1))" "$(promv "$q")"
total=$(find "$ROOT"/tests/webhook/cases -name '*.in.json' | wc -l)
q='sum(meshcut_webhook_admission_duration_seconds_count)'
wait_for 100 eqv "$q" "$((total + 1))"
expect_eq "webhook: every review in the latency histogram" "$((total + 1))" "$(promv "$q")"

# --- the documented names and the served ones, both ways ---
served() {
  for t in "${TARGETS[@]}" "127.0.0.1:$WPORT"; do page "http://$t/metrics"; done |
    awk '/^# TYPE / { print $3 }' | sort -u
}
documented() { grep -oE '^\| `meshcut_[a-z0-9_]+`' "$DOC" | tr -d '|` ' | sort -u; }
served >"$TEST_TMP/served"
documented >"$TEST_TMP/documented"
extra=$(comm -23 "$TEST_TMP/served" "$TEST_TMP/documented" | tr '\n' ' ')
missing=$(comm -13 "$TEST_TMP/served" "$TEST_TMP/documented" | tr '\n' ' ')
expect_eq "every metric served is in docs/metrics.md ($(wc -l <"$TEST_TMP/served") served)" "" "$extra"
expect_eq "every metric docs/metrics.md lists is served ($(wc -l <"$TEST_TMP/documented") listed)" "" "$missing"

# --- the Grafana dashboard: every expression evaluates, non-empty ---
mapfile -t EXPRS < <(jq -r '.. | objects | select(has("expr")) | .expr' "$DASH")
[ "${#EXPRS[@]}" -gt 0 ] || not_ok "the dashboard has expressions"
for e in "${EXPRS[@]}"; do
  q=${e//\$__rate_interval/1m}
  r=$(promq "$q" 2>&1)
  n=$(jq 'length' <<<"$r" 2>/dev/null || echo error)
  n=${n:-error} # no answer at all (curl failed): jq read nothing
  check "dashboard: $e -> $n series" test "$n" != error -a "$n" != 0
  [ "$n" != error ] || diag "$r"
done

tap_done
[ "$TAP_FAILED" = 0 ]
