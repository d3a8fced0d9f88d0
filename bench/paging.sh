#!/usr/bin/env bash
# Keyset paging over the harness's 1,000,000 OHLCV rows: pages of 100 at the start, middle and
# end, 200 requests each over the connection pool (bench/paging.py). One command.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OUT="$ROOT/bench/results/paging-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
bench_database
trap bench_cleanup EXIT
bench_gateway "$OUT/quantgraph.log"
wait_ready "http://127.0.0.1:$QG_PORT/readyz"
QG_URL="http://127.0.0.1:$QG_PORT/graphql" python3 "$ROOT/bench/paging.py" | tee "$OUT/paging.md"
