#!/usr/bin/env bash
# TAP: tests/bench/report and tests/bench/plot on hand-made results: medians
# and ratios come from the runs that ran, a failed run (no request completed
# in its window: at c=1000 through TLS sidecars a too-short run measures only
# handshakes) is counted as failed and kept out of every median, and a group
# whose baseline failed gets no ratio instead of a division by zero.
. "$(dirname "$0")/lib.sh"
TMP=$(mktemp -d /tmp/meshcut-report.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# point TOPO CONFIG C REPEAT MEAN QPS [FAILED]
point() {
  jq -nc --arg t "$1" --arg cfg "$2" --argjson c "$3" --argjson r "$4" --argjson mean "$5" \
    --argjson qps "$6" --arg failed "${7:-}" '
    { topology: $t, placement: "one-node", config: $cfg, tls: false, concurrency: $c,
      pinned: false, repeat: $r, requests: (if $failed == "" then 1000 else 0 end),
      mean_us: $mean, p50_us: $mean, p90_us: ($mean * 1.2), p99_us: ($mean * 2),
      max_us: ($mean * 3), qps: $qps, errors: 0, cpu_us_per_req: 50,
      tcp_segs_per_req: (if $cfg == "mesh" then 12 else 0 end), redirected_msgs_per_req: 0,
      agent_rss_kb: 0, bpf_map_bytes: 0,
      failed: (if $failed == "" then null else $failed end) }'
}
nowin="no request completed in the measured window"
{
  # c=1: mesh has a failed third run (zeros); full is fine
  point two-hop mesh 1 1 200 5000; point two-hop mesh 1 2 220 4500
  point two-hop mesh 1 3 0 0 "$nowin"
  point two-hop full 1 1 150 6600; point two-hop full 1 2 160 6200
  # the minimal pairing program (tests/bench/minimal): meshcut's gap to it
  point two-hop minimal 1 1 140 7000
  # c=1000: every mesh run failed
  point two-hop mesh 1000 1 0 0 "$nowin"
  point two-hop full 1000 1 90000 11000
  # c=1, a new connection per request (bench --connections per-request): a
  # group of its own, its ratios to its own mesh runs
  point two-hop mesh 1 1 400 2500 | jq -c '.connection = "per-request"'
  point two-hop full 1 1 300 3000 | jq -c '.connection = "per-request"'
  # bench --app-reads recv (pods opted in): a group of its own again
  point two-hop mesh 1 1 410 2400 | jq -c '.connection = "per-request" | .app_reads = "recv"'
  point two-hop full 1 1 250 3900 | jq -c '.connection = "per-request" | .app_reads = "recv"'
} | jq -s '(.[] | select(.config == "full" and .concurrency == 1000) | .warmed_connections) = 600
            | (.[] | select(.concurrency == 1) | .warmed_connections) = 1' >"$TMP/results.json"

if "$ROOT/tests/bench/report" "$TMP/results.json" mesh >"$TMP/results.md" 2>"$TMP/report.err"; then
  ok "report: exit 0 with failed runs in the results"
else
  not_ok "report: exit 0 with failed runs in the results"; sed 's/^/# /' "$TMP/report.err"
fi
row() { # C CONFIG [KIND]: that configuration's row in the section for concurrency C
  # and connection kind KIND (default keep-alive), pods not opted in to app-reads
  awk -v h="c=$1" -v k="${3:-keep-alive}" '/^## / { on = ($NF == h && index($0, ", " k ", ") && !index($0, "app-reads")) } on' \
    "$TMP/results.md" | grep "^| $2 |"
}
cell() { row "$1" "$2" | awk -F'|' -v n="$3" '{ gsub(/^ +| +$/, "", $(n + 1)); print $(n + 1) }'; }
diag "$(row 1 mesh)" "$(row 1 full)" "$(row 1000 mesh)" "$(row 1000 full)"
# columns: 1 config, 2 mean, 7 mean ratio, 9 qps ratio, 10 mean / minimal,
# 12 qps / minimal, 15 errors
expect_eq "c=1 mesh: the mean is the median of the two runs that ran" 210 "$(cell 1 mesh 2)"
expect_eq "c=1 mesh: the failed run is in the errors column" "0 + 1 failed run" "$(cell 1 mesh 15)"
expect_eq "c=1 full: mean ratio to mesh from valid runs (155 / 210)" 0.74 "$(cell 1 full 7)"
expect_eq "c=1 full: qps ratio to mesh from valid runs (6400 / 4750)" 1.35 "$(cell 1 full 9)"
expect_eq "c=1 full: mean gap to minimal (155 / 140)" 1.11 "$(cell 1 full 10)"
expect_eq "c=1 full: qps gap to minimal (6400 / 7000)" 0.91 "$(cell 1 full 12)"
expect_eq "c=1000: no minimal run in the group, so no gap" "-" "$(cell 1000 full 10)"
expect_eq "c=1000: no baseline run ran, so no ratio" "-" "$(cell 1000 full 7)"
expect_eq "c=1000 mesh: no mean from a failed run" "-" "$(cell 1000 mesh 2)"
expect_eq "per-request connections: their own section, mean ratio 300 / 400" 0.75 \
  "$(row 1 full "a new connection per request" | awk -F'|' '{ gsub(/ /, "", $8); print $8 }')"
expect_eq "... and the keep-alive section's mesh median is not mixed with them" 210 "$(cell 1 mesh 2)"
expect_eq "pods opted in (app-reads recv): their own section, mean ratio 250 / 410" 0.61 \
  "$(awk '/^## / { on = index($0, "pods annotated app-reads: recv") > 0 } on' "$TMP/results.md" | grep '^| full |' | awk -F'|' '{ gsub(/ /, "", $8); print $8 }')"
expect_eq "... and the per-request section without them keeps its own ratio (300 / 400)" 0.75 \
  "$(row 1 full "a new connection per request" | awk -F'|' '{ gsub(/ /, "", $8); print $8 }')"
check "a run whose warm-up ended before every connection answered is named as not steady" \
  grep -q '^Not steady state: 1 run(s) .*two-hop one-node plaintext c=1000 full (600 of 1000)' "$TMP/results.md"

# the bootstrap section (tests/bench/ratio-ci): full's c=1 mean over mesh is
# 155 / 210; a resampled median of full is 150, 155 or 160 and of mesh 200,
# 210 or 220, so every resampled ratio lies in 150/220..160/200
ci=$(grep '^| two-hop | one-node | plaintext | keep-alive | 1 | full |' "$TMP/results.md" | awk -F'|' '{ print $9 }')
diag "bootstrap cell: $ci"
check "bootstrap: full's mean over mesh is 0.74 with an interval around it inside 0.68..0.80" \
  awk -v s="$ci" 'BEGIN { if (split(s, a, /[][, ]+/) < 4) exit 1; p = a[2]; lo = a[3]; hi = a[4]
    exit !(p == 0.74 && lo >= 0.68 && lo <= p && hi >= p && hi <= 0.80 && lo < hi) }'
expect_eq "bootstrap: one run of minimal gives a ratio and no interval (full / minimal, 155 / 140)" 1.11 \
  "$(grep '^| two-hop | one-node | plaintext | keep-alive | 1 | full |' "$TMP/results.md" | awk -F'|' '{ gsub(/ /, "", $12); print $12 }')"
echo 'not json' >"$TMP/bad.json"
"$ROOT/tests/bench/ratio-ci" "$TMP/bad.json" >"$TMP/bad.out" 2>&1; rc=$?
check "bootstrap: a file that is not results exits 1 with its name" \
  test $rc = 1 -a -n "$(grep "ratio-ci: $TMP/bad.json" "$TMP/bad.out")"
"$ROOT/tests/bench/ratio-ci" "$TMP/results.json" >"$TMP/bad.out" 2>&1; rc=$?
check "bootstrap: points without the group the report adds exit 1 and say so" \
  test $rc = 1 -a -n "$(grep "without its group" "$TMP/bad.out")"

if "$ROOT/tests/bench/plot" "$TMP/results.json" "$TMP" >"$TMP/plot.log" 2>&1; then
  check "plot: a PNG from results with failed runs" test -s "$TMP/two-hop-one-node-plain.png"
else
  not_ok "plot: runs with failed runs in the results"; sed 's/^/# /' "$TMP/plot.log"
fi
tap_done
