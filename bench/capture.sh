#!/usr/bin/env bash
# What change capture costs bulk ingest: `COPY` of the bench's daily bars (about 1,000,000 rows)
# into a freshly migrated `ohlcv_data`, REPEATS times each (default 3), with (a) no triggers,
# (b) the change triggers only (statement-level, reading the distinct tickers of the transition
# table), (c) every trigger the migrations create (the change triggers and the live feed's
# row-level NOTIFY, which fires for writers other than the gateway). One command; prints the
# medians and writes bench/results/capture-<time>/capture.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OUT="$ROOT/bench/results/capture-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
bench_database
trap bench_cleanup EXIT
REPEATS=${REPEATS:-3}
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS capture" -c "CREATE DATABASE capture" >/dev/null
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/capture" "$QG" migrate >/dev/null
ROWS="$OUT/bars.copy"
"${PSQL[@]}" -d quantgraph -c "\\copy (SELECT ticker, region, date, timeframe, open, high, low, close, volume FROM ohlcv_data) TO '$ROWS'"
N=$(wc -l < "$ROWS")
cap=("${PSQL[@]}" -d capture -v ON_ERROR_STOP=1)
# The median of REPEATS timed COPYs (ms) into an emptied table with triggers as `$1` sets them.
copy_ms() {
  local times=()
  for _ in $(seq "$REPEATS"); do
    "${cap[@]}" -c "TRUNCATE ohlcv_data" -c "$1" >/dev/null
    local t0 t1
    t0=$(date +%s%N)
    "${cap[@]}" -c "\\copy ohlcv_data (ticker, region, date, timeframe, open, high, low, close, volume) FROM '$ROWS'" >/dev/null
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
none=$(copy_ms "ALTER TABLE ohlcv_data DISABLE TRIGGER USER")
changes=$(copy_ms "ALTER TABLE ohlcv_data DISABLE TRIGGER USER; ALTER TABLE ohlcv_data ENABLE TRIGGER ohlcv_data_change_i")
all=$(copy_ms "ALTER TABLE ohlcv_data ENABLE TRIGGER USER")
{
  echo "COPY of $N daily bars into ohlcv_data, median of $REPEATS (ms):"
  echo
  echo "| triggers | ms | / none |"
  echo "|---|---|---|"
  echo "| none | $none | 1.00 |"
  echo "| change capture (statement-level) | $changes | $(awk "BEGIN { printf \"%.2f\", $changes / $none }") |"
  echo "| change capture + live-feed row NOTIFY | $all | $(awk "BEGIN { printf \"%.2f\", $all / $none }") |"
} | tee "$OUT/capture.md"
rm -f "$ROWS"
"${PSQL[@]}" -d postgres -c "DROP DATABASE capture" >/dev/null
