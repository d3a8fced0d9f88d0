#!/usr/bin/env bash
# Keyset paging over the harness's 1,000,000 OHLCV rows: pages of 100 at the start, middle and
# end, 200 requests each over the connection pool (bench/paging.py). One command.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_start paging
QG_URL="$URL" python3 "$ROOT/bench/paging.py" | tee "$OUT/paging.md"
