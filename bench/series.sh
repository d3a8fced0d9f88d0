#!/usr/bin/env bash
# Chart history two ways on the harness data, in one sitting: the row-per-object `ohlcvData`
# chart query (the harness's q2: 500 daily bars of one ticker) beside the same 500 bars as
# `ohlcvSeries` columns (exact Decimal strings, and as JSON numbers). Bytes per bar and req/s
# (wrk, 16 connections, 2 threads). One command; extra: DURATION (seconds, default 15).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_start series
DURATION=${DURATION:-15}
last=$("${PSQL[@]}" -d quantgraph -tAc "SELECT max(date) FROM (SELECT date FROM ohlcv_data WHERE ticker = 'ALSP' AND region = 'US' AND timeframe = 'D' ORDER BY date LIMIT 500) d")
python3 - "$OUT" "$last" "$ROOT/bench/queries/q2_chart.graphql" <<'PY'
import json, sys
out, last, chart = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
series = 'query($to: Date) { ohlcvSeries(ticker: "ALSP", region: "US", interval: DAY, to: $to, countBack: 500) { t %s } }'
bodies = {
    "rows": {"query": chart, "variables": {"ticker": "ALSP", "region": "US"}},
    "series": {"query": series % "o h l c v", "variables": {"to": last}},
    "series_numbers": {"query": series % "numbers { o h l c v }", "variables": {"to": last}},
}
for name, body in bodies.items():
    json.dump(body, open(f"{out}/body_{name}.json", "w"))
PY
cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BODY")); wrk.body = f:read("*a"); f:close()
LUA
echo "| query | bars | bytes per response | bytes per bar | req/s |" | tee "$OUT/series.md"
echo "|---|---|---|---|---|" | tee -a "$OUT/series.md"
for name in rows series series_numbers; do
  body="$OUT/body_$name.json"
  curl -sf -H 'Content-Type: application/json' --data-binary @"$body" "$URL" > "$OUT/answer_$name.json"
  read -r bars bytes < <(python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); d = a["data"]
n = len(d["ohlcvData"]["nodes"]) if "ohlcvData" in d else len(d["ohlcvSeries"]["t"])
import os; print(n, os.path.getsize(sys.argv[1]))' "$OUT/answer_$name.json")
  BODY="$body" wrk -t2 -c16 -d5s -s "$OUT/post.lua" "$URL" > /dev/null
  rps=$(BODY="$body" wrk -t2 -c16 -d"${DURATION}s" -s "$OUT/post.lua" "$URL" | awk '/Requests\/sec/ {print $2}')
  echo "| $name | $bars | $bytes | $(( bytes / bars )) | $rps |" | tee -a "$OUT/series.md"
done
