#!/usr/bin/env bash
# The live-query and stream parts of bench/live.sh (LIVE_PARTS: queries, streams), on the bench
# database (bench/lib.sh): a release gateway, the client `bench/live_queries.rs`. Results land
# in bench/results/live-queries-<time>/summary.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PARTS=${LIVE_PARTS:-queries streams}
export QUANTGRAPH_MAX_CONNECTIONS_PER_TOKEN=100000
(cd "$ROOT" && cargo build --release --example live_queries_bench)
BENCH="$ROOT/target/release/examples/live_queries_bench"
bench_start live-queries
ulimit -n 200000 || true
DB="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph"
# PostgreSQL's CPU is its postmaster's and its backends' (the harness's cluster).
POSTMASTER=$(head -1 "$("${PSQL[@]}" -d postgres -tAc 'SHOW data_directory')/postmaster.pid")
restart() {
  kill "$QG_PID"; wait "$QG_PID" 2>/dev/null || true
  bench_gateway "$OUT/quantgraph-$1.log"
  wait_ready "http://127.0.0.1:$QG_PORT/readyz"
}
{
  if [[ " $PARTS " == *" queries "* ]]; then
    echo "## live queries: 10,000 subscribers (10 per connection) over 1,000 queries; 20 plain-SQL bar updates/s for 30 s"
    "$BENCH" --mode live --addr "127.0.0.1:$QG_PORT" --pg "$DB" --subscribers 10000 --groups 1000 --per-connection 10 \
      --writes 20 --seconds 30 --pid "$QG_PID" --postmaster "$POSTMASTER"
    restart poll
    echo "## the same 1,000 queries polled: each read once a second over HTTP; same writes"
    "$BENCH" --mode poll --addr "127.0.0.1:$QG_PORT" --pg "$DB" --groups 1000 --writes 20 --seconds 30 \
      --pid "$QG_PID" --postmaster "$POSTMASTER"
    restart streams
  fi
  if [[ " $PARTS " == *" streams "* ]]; then
    for n in 1 1000; do
      echo "## ohlcvDataStream: $n subscriber(s), 100,000 rows"
      "$BENCH" --mode stream --addr "127.0.0.1:$QG_PORT" --pg "$DB" --subscribers "$n" --rows 100000
      restart "stream-$n"
    done
    "${PSQL[@]}" -d quantgraph -c "DELETE FROM ohlcv_data WHERE ticker LIKE 'ZZB%'" > /dev/null
  fi
} > >(tee "$OUT/summary.txt")
# (Not a pipe: the block must run in this shell, so the gateways `restart` starts are in `pids`
# and stopped on exit.)
