# Shared by the bench scripts: the harness's PostgreSQL with database `quantgraph` holding the
# harness's rows in QuantGraph's own migrated schema, and a release gateway on it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HARNESS=$(cd "${BENCH_HARNESS:-$ROOT/../shared/bench}" && pwd)
QG_PORT=${QG_PORT:-8100}
PG_PORT=55433
PSQL=(psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres)
export MAX_WAIT=${MAX_WAIT:-300}

# Builds the gateway (unless QG_BIN names one), starts the harness's cluster and fills the
# `quantgraph` database once.
bench_database() {
  if [ -z "${QG_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --bin quantgraph)
  fi
  QG=${QG_BIN:-$ROOT/target/release/quantgraph}
  (cd "$HARNESS" && ./setup.sh && ./db.sh start && ./db.sh load)
  if ! "${PSQL[@]}" -d quantgraph -tAc "SELECT 1 FROM tickers LIMIT 1" 2>/dev/null | grep -q 1; then
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS quantgraph" -c "CREATE DATABASE quantgraph"
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" "$QG" migrate
    pg_dump -h 127.0.0.1 -p "$PG_PORT" -U postgres --data-only \
      -t tickers -t stock_details -t ohlcv_data -t strategies -t backtest_results bench \
      | "${PSQL[@]}" -d quantgraph -v ON_ERROR_STOP=1
    "${PSQL[@]}" -d quantgraph -c "VACUUM (FREEZE, ANALYZE)"
  fi
  # Migrations added since the database was filled (idempotent).
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" "$QG" migrate
}

pids=()
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP_DB:-}" ] || (cd "$HARNESS" && ./db.sh stop) || true
}

# Starts the gateway on the bench database (log in $1); sets QG_PID.
bench_gateway() {
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" QUANTGRAPH_BIND="127.0.0.1:$QG_PORT" \
    QUANTGRAPH_UNAUTHENTICATED_ROLE=analyst QUANTGRAPH_DB_POOL=${QUANTGRAPH_DB_POOL:-16} RUST_LOG=warn \
    "$QG" serve --no-migrate > "$1" 2>&1 &
  QG_PID=$!
  pids+=("$QG_PID")
}

# The common start of a bench named $1: OUT (its results directory), the database, the gateway
# (ready), URL; everything stopped on exit.
bench_start() {
  OUT="$ROOT/bench/results/$1-$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$OUT"
  bench_database
  trap bench_cleanup EXIT
  bench_gateway "$OUT/quantgraph.log"
  wait_ready "http://127.0.0.1:$QG_PORT/readyz"
  URL="http://127.0.0.1:$QG_PORT/graphql"
}

wait_ready() {
  for _ in $(seq 1 60); do
    curl -sf "$1" >/dev/null && return 0
    sleep 1
  done
  echo "not ready: $1" >&2
  return 1
}
