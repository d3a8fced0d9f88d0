#!/usr/bin/env bash
# Analytics on the harness data, each beside hand-written SQL answering the same question, in
# one sitting: (1) an aggregate — daily-bar count, average volume and close deviation per
# sector per month over the 500,000 US bars (`ohlcvDataAggregate`, one statement); (2) derived
# series — a year of one ticker's daily bars with the simple return, SMA(20) and annualised
# 20-day volatility (`ohlcvBars` with `simpleReturn sma volatility`). QuantGraph with wrk, the
# SQL with pgbench, same concurrency (C clients, default 16; 2 threads). One command; extra:
# DURATION (seconds, default 15), C.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_start analytics
DURATION=${DURATION:-15}
C=${C:-16}
FROM=$("${PSQL[@]}" -d quantgraph -tAc "SELECT min(date) + 365 FROM ohlcv_data WHERE ticker = 'ALSP' AND region = 'US' AND timeframe = 'D'")
TO=$("${PSQL[@]}" -d quantgraph -tAc "SELECT date '$FROM' + 364")

python3 - "$OUT" "$FROM" "$TO" <<'PY'
import json, sys
out, frm, to = sys.argv[1:4]
bodies = {
    "aggregate": {"query": """{ ohlcvDataAggregate(where: { region: { eq: "US" } }, first: 1000,
        groupBy: [{ tickerInfo: { stockDetails: { column: SECTOR } } }, { column: DATE, interval: MONTH }]) {
        nodes { keys count avg { volume } stddev { close } } } }"""},
    "derived": {"query": """query($f: Date, $t: Date) { ohlcvBars(ticker: "ALSP", region: "US", interval: DAY, from: $f, to: $t) {
        bucket close simpleReturn sma(length: 20) volatility(length: 20) } }""", "variables": {"f": frm, "t": to}},
}
for name, body in bodies.items():
    json.dump(body, open(f"{out}/body_{name}.json", "w"))
PY
cat > "$OUT/sql_aggregate.sql" <<'SQL'
SELECT sd.sector, date_trunc('month', o.date::timestamp)::date AS month, count(*), avg(o.volume),
       stddev_samp(o.close::float8)
FROM ohlcv_data o
LEFT JOIN tickers t ON t.ticker = o.ticker AND t.region = o.region
LEFT JOIN stock_details sd ON sd.ticker = t.ticker AND sd.region = t.region
WHERE o.region = 'US'
GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 LIMIT 1001;
SQL
cat > "$OUT/sql_derived.sql" <<SQL
WITH b AS (
  SELECT date, close::float8 AS c, lag(close::float8) OVER (ORDER BY date) AS p
  FROM ohlcv_data WHERE ticker = 'ALSP' AND region = 'US' AND timeframe = 'D' AND date <= '$TO'
), w AS (
  SELECT date, c, c / p - 1 AS ret, ln(c / p) AS lr,
         CASE WHEN count(c) OVER l20 = 20 THEN avg(c) OVER l20 END AS sma
  FROM b WINDOW l20 AS (ORDER BY date ROWS 19 PRECEDING)
)
SELECT date, c, ret, sma,
       CASE WHEN count(lr) OVER l20 = 20 THEN stddev_samp(lr) OVER l20 * sqrt(252) END AS vol
FROM w WHERE date >= '$FROM' WINDOW l20 AS (ORDER BY date ROWS 19 PRECEDING) ORDER BY date;
SQL
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY")); wrk.body = f:read("*a"); f:close()
LUA
echo "| question | QuantGraph req/s | hand-written SQL tps (pgbench) | QuantGraph / SQL | groups or buckets |" | tee "$OUT/analytics.md"
echo "|---|---|---|---|---|" | tee -a "$OUT/analytics.md"
for name in aggregate derived; do
  body="$OUT/body_$name.json"
  curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "$URL" > "$OUT/answer_$name.json"
  n=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["data"]
print(len(d["ohlcvDataAggregate"]["nodes"]) if "ohlcvDataAggregate" in d else len(d["ohlcvBars"]))' "$OUT/answer_$name.json")
  rows=$("${PSQL[@]}" -d quantgraph -tA -f "$OUT/sql_$name.sql" | wc -l)
  BODY="$body" wrk -t2 -c"$C" -d3s -s "$OUT/post.lua" "$URL" > /dev/null
  rps=$(BODY="$body" wrk -t2 -c"$C" -d"${DURATION}s" -s "$OUT/post.lua" "$URL" | awk '/Requests\/sec/ {print $2}')
  tps=$(pgbench -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "$C" -j 2 -T "$DURATION" -f "$OUT/sql_$name.sql" quantgraph 2>/dev/null \
    | awk '/^tps/ {print $3; exit}')
  ratio=$(python3 -c "print(f'{float(\"$rps\") / float(\"$tps\"):.3f}')")
  echo "| $name | $rps | $tps | $ratio | $n (SQL: $rows rows) |" | tee -a "$OUT/analytics.md"
done
