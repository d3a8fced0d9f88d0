#!/usr/bin/env bash
# One command: QuantGraph beside PostGraphile v5 and raw SQL (pgbench) on the harness's data set,
# the same rows, concurrency and load generator, in one sitting. Extra arguments go to bench.py
# (e.g. --repeats 1 --duration 10). Results land in bench/results/<timestamp>/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=$(cd "${BENCH_HARNESS:-$ROOT/../shared/bench}" && pwd)
QG_PORT=${QG_PORT:-8100}
PG_PORT=55433
OUT="$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
export MAX_WAIT=${MAX_WAIT:-300}

if [ -z "${QG_BIN:-}" ]; then
  (cd "$ROOT" && cargo build --release --bin quantgraph)
fi
QG=${QG_BIN:-$ROOT/target/release/quantgraph}

cd "$HARNESS"
./setup.sh
./db.sh start
./db.sh load
PSQL=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres)

# QuantGraph reads a database it migrated itself, holding the harness's rows.
if ! "${PSQL[@]}" -d quantgraph -tAc "SELECT 1 FROM tickers LIMIT 1" 2>/dev/null | grep -q 1; then
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS quantgraph" -c "CREATE DATABASE quantgraph"
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" "$QG" migrate
  pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres --data-only \
    -t tickers -t stock_details -t ohlcv_data -t strategies -t backtest_results bench \
    | "${PSQL[@]}" -d quantgraph -v ON_ERROR_STOP=1
  "${PSQL[@]}" -d quantgraph -c "VACUUM (FREEZE, ANALYZE)"
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP_DB:-}" ] || ./db.sh stop || true
}
trap cleanup EXIT

DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" QUANTGRAPH_BIND="127.0.0.1:$QG_PORT" \
  QUANTGRAPH_UNAUTHENTICATED_ROLE=analyst QUANTGRAPH_DB_POOL=${QUANTGRAPH_DB_POOL:-16} RUST_LOG=warn \
  "$QG" serve --no-migrate > "$OUT/quantgraph.log" 2>&1 &
QG_PID=$!
pids+=("$QG_PID")
postgraphile/start.sh > "$OUT/postgraphile.log" 2>&1 &
PGL_PID=$!
pids+=("$PGL_PID")
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$QG_PORT/readyz" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:5678/graphql" && break
  sleep 1
done

QG_URL="http://127.0.0.1:$QG_PORT/graphql" BENCH_HARNESS="$HARNESS" python3 "$ROOT/bench/verify.py" | tee "$OUT/verify.txt"
BENCH_GRAPHQL_QUERIES="$ROOT/bench/queries" BENCH_GRAPHQL_URL="http://127.0.0.1:$QG_PORT/graphql" \
  python3 tools/bench.py --outdir "$OUT/quantgraph" --gateway-name QuantGraph --targets graphql,raw,raw_json --pgl-pid "$QG_PID" "$@"
python3 tools/bench.py --outdir "$OUT/postgraphile" --targets graphql --pgl-pid "$PGL_PID" "$@"
python3 "$ROOT/bench/summarize.py" "$OUT" | tee "$OUT/summary.md"
