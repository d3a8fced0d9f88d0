#!/usr/bin/env bash
# One command: QuantGraph beside PostGraphile v5 and raw SQL (pgbench) on the harness's data set,
# the same rows, concurrency and load generator, in one sitting. Extra arguments go to bench.py
# (e.g. --repeats 1 --duration 10). Results land in bench/results/<timestamp>/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

bench_database
trap bench_cleanup EXIT
cd "$HARNESS"
bench_gateway "$OUT/quantgraph.log"
postgraphile/start.sh > "$OUT/postgraphile.log" 2>&1 &
PGL_PID=$!
pids+=("$PGL_PID")
wait_ready "http://127.0.0.1:$QG_PORT/readyz"
for _ in $(seq 1 60); do
  curl -s -o /dev/null "http://127.0.0.1:5678/graphql" && break
  sleep 1
done

QG_URL="http://127.0.0.1:$QG_PORT/graphql" BENCH_HARNESS="$HARNESS" python3 "$ROOT/bench/verify.py" | tee "$OUT/verify.txt"
BENCH_GRAPHQL_QUERIES="$ROOT/bench/queries" BENCH_GRAPHQL_URL="http://127.0.0.1:$QG_PORT/graphql" \
  python3 tools/bench.py --outdir "$OUT/quantgraph" --gateway-name QuantGraph --targets graphql,raw,raw_json --pgl-pid "$QG_PID" "$@"
python3 tools/bench.py --outdir "$OUT/postgraphile" --targets graphql --pgl-pid "$PGL_PID" "$@"

# The response cache: a second gateway with it on, measured alone and then under a steady 20
# bar updates per second by plain SQL (bench/writes.py), with its hit ratio from /metrics.
QG_CACHED_PORT=$((QG_PORT + 1))
QG_PORT=$QG_CACHED_PORT QUANTGRAPH_RESPONSE_CACHE_BYTES=268435456 bench_gateway "$OUT/quantgraph-cached.log"
wait_ready "http://127.0.0.1:$QG_CACHED_PORT/readyz"
cache_figures() {
  curl -s "http://127.0.0.1:$QG_CACHED_PORT/metrics" | awk '/^quantgraph_response_cache_(hits|misses)_total/ { printf "%s %s\n", $1, $2 }'
}
for run in cached cached-writes; do
  writer=
  if [ "$run" = cached-writes ]; then
    "${PSQL[@]}" -d quantgraph -tAc "(SELECT ticker || '|' || region FROM tickers WHERE region = 'KR' ORDER BY ticker LIMIT 50) UNION ALL SELECT 'ALSP|US'" \
      | python3 "$ROOT/bench/writes.py" 20 | "${PSQL[@]}" -d quantgraph > /dev/null &
    writer=$!
  fi
  cache_figures > "$OUT/$run-cache-before.txt"
  BENCH_GRAPHQL_QUERIES="$ROOT/bench/queries" BENCH_GRAPHQL_URL="http://127.0.0.1:$QG_CACHED_PORT/graphql" \
    python3 tools/bench.py --outdir "$OUT/$run" --gateway-name "QuantGraph ($run)" --targets graphql --pgl-pid "$QG_PID" "$@"
  cache_figures > "$OUT/$run-cache-after.txt"
  [ -z "$writer" ] || kill "$writer" 2>/dev/null || true
done
python3 "$ROOT/bench/summarize.py" "$OUT" | tee "$OUT/summary.md"
