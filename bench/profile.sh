#!/usr/bin/env bash
# Where the gateway's time goes on each bench query: the harness's load (wrk, 16 connections)
# for SECONDS (15) per query while `perf record` samples the gateway (99 Hz on-CPU, no call
# graph: the release build has symbols but no frame pointers), then its CPU per request from
# /proc and its peak RSS under that load. Writes bench/results/profile-<ts>/<query>.txt (the
# functions over 1 % of the gateway's samples) and summary.md.
# Usage: KEEP_DB=1 [QG_BIN=…] bash bench/profile.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SECONDS_PER=${SECONDS_PER:-15}
bench_start profile
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$QG_PID/stat"; }
{
  echo "| query | req/s | gateway CPU / request | peak RSS after |"
  echo "|---|---|---|---|"
} > "$OUT/summary.md"
for q in q1_screen q2_chart q3_strategies; do
  body="$OUT/body_$q.json"
  python3 -c 'import json,sys; d=sys.argv[1]; print(json.dumps({"query": open(f"{d}/{sys.argv[2]}.graphql").read(), "variables": json.load(open(f"{d}/{sys.argv[2]}.variables.json"))}))' \
    "$ROOT/bench/queries" "$q" > "$body"
  # Warm the plan cache and the connections first.
  BODY_FILE="$body" wrk -t2 -c16 -d3s -s "$HARNESS/load/wrk_post.lua" "$URL" > /dev/null
  before=$(cpu)
  perf record -q -F 99 -p "$QG_PID" -o "$OUT/$q.perf" -- sleep "$SECONDS_PER" 2> /dev/null &
  perf_pid=$!
  BODY_FILE="$body" wrk -t2 -c16 -d"${SECONDS_PER}s" -s "$HARNESS/load/wrk_post.lua" "$URL" > "$OUT/$q.wrk"
  wait "$perf_pid"
  after=$(cpu)
  rps=$(sed -n 's/^BENCH_JSON //p' "$OUT/$q.wrk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rps"])')
  perf report -q -i "$OUT/$q.perf" --no-children --sort symbol --percent-limit 1 --stdio 2> /dev/null \
    | grep -v '^$' > "$OUT/$q.txt"
  rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$QG_PID/status")
  per=$(python3 -c "print(f'{($after - $before) / $ticks / ($rps * $SECONDS_PER) * 1000:.3f}')")
  echo "| $q | $rps | $per ms | $rss |" >> "$OUT/summary.md"
  rm -f "$OUT/$q.perf"
done
cat "$OUT/summary.md"
echo "profiles: $OUT/<query>.txt"
