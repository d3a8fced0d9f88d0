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

