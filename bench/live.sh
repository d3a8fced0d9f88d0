#!/usr/bin/env bash
# Live bench, one command, in three parts (LIVE_PARTS, default all):
# - feeds: subscribers held (1,000 and 10,000), delivery latency at 1,000 candles/s, gateway
#   memory per idle subscriber, and ingest rows/s through `ingestCandles` against COPY;
# - queries: 10,000 live queries over 1,000 screen-like queries on the bench data set, with
#   plain-SQL bar updates of 1% of the tickers per second, against the same load polled once a
#   second per query (bench/live_queries.rs);
# - streams: rows/s of an `ohlcvDataStream` to 1 and to 1,000 subscribers, and a resume.
# Uses the harness's PostgreSQL cluster.
set -euo pipefail
PARTS=${LIVE_PARTS:-feeds queries streams}
if [[ " $PARTS " != *" feeds "* ]]; then
  exec bash "$(dirname "$0")/live_queries.sh"
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=$(cd "${BENCH_HARNESS:-$ROOT/../shared/bench}" && pwd)
PORT=${QG_LIVE_PORT:-8200}
PG="postgres://postgres@127.0.0.1:55433/qglive"
OUT="$ROOT/bench/results/live-$(date +%Y%m%d-%H%M%S).txt"
mkdir -p "$(dirname "$OUT")"
export JWT_SECRET=${JWT_SECRET:-live-bench-secret}

(cd "$ROOT" && cargo build --release --bin quantgraph --example live_bench)
QG="$ROOT/target/release/quantgraph"
BENCH="$ROOT/target/release/examples/live_bench"
(cd "$HARNESS" && ./db.sh start)
PSQL=(psql -X -q -h 127.0.0.1 -p 55433 -U postgres)
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS qglive" -c "CREATE DATABASE qglive"
DATABASE_URL=$PG "$QG" migrate
ulimit -n 200000 || true
TOKEN=$("$QG" token --role service --subject live-bench)

gateway() {
  DATABASE_URL=$PG QUANTGRAPH_BIND=127.0.0.1:$PORT QUANTGRAPH_MAX_CONNECTIONS_PER_TOKEN=100000 RUST_LOG=warn \
    "$QG" serve --no-migrate > /dev/null 2>&1 &
  GW=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.2; done
}

{
  # subscriptions:per connection. A process here may hold 20,000 open files: 20,000
  # subscriptions ride 4,000 connections.
  for run in ${LIVE_RUNS:-1000:1 10000:1 20000:5}; do
    n=${run%%:*}; per=${run##*:}
    echo "## $n subscriptions ($per per connection), 1,000 symbols, 1,000 candles/s for 10 s"
    gateway
    "$BENCH" --addr "127.0.0.1:$PORT" --subscribers "$n" --per-connection "$per" --symbols 1000 --rate 1000 --seconds 10 --token "$TOKEN" --pid "$GW"
    kill "$GW"; wait "$GW" 2>/dev/null || true
    echo
  done
  echo "## ingest: 100,000 candles, batches of 5,000"
  gateway
  "${PSQL[@]}" -d qglive -c "TRUNCATE market_candles"
  python3 - "$PORT" "$TOKEN" <<'PY'
import json, sys, time, urllib.request
port, token = sys.argv[1], sys.argv[2]
q = "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }"
# Request bodies are made before the clock starts, as COPY's CSV file is.
bodies = []
for b in range(20):
    rows = [{"time": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(1767225600 + (b * 5000 + i) // 50 * 60)),
             "symbol": "I%d" % (i % 50), "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": "100"} for i in range(5000)]
    bodies.append(json.dumps({"query": q, "variables": {"c": rows}}).encode())
t0 = time.time()
for body in bodies:
    req = urllib.request.Request("http://127.0.0.1:%s/graphql" % port, body,
                                 {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    res = json.load(urllib.request.urlopen(req))
    assert "errors" not in res, res
dt = time.time() - t0
print("ingestCandles: 100000 rows in %.2f s = %.0f rows/s" % (dt, 100000 / dt))
PY
  kill "$GW"; wait "$GW" 2>/dev/null || true
  "${PSQL[@]}" -d qglive -c "TRUNCATE market_candles"
  python3 - > /tmp/qglive_copy.csv <<'PY'
import time
for n in range(100000):
    print("%s,I%d,10,11,9,10.5,100" % (time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(1767225600 + n // 50 * 60)), n % 50))
PY
  s=$(date +%s.%N)
  "${PSQL[@]}" -d qglive -c "\copy market_candles (time, symbol, open, high, low, close, volume) FROM '/tmp/qglive_copy.csv' CSV"
  e=$(date +%s.%N)
  python3 -c "print('COPY: 100000 rows in %.2f s = %.0f rows/s' % ($e - $s, 100000 / ($e - $s)))"
} | tee "$OUT"
if [[ " $PARTS " == *" queries "* || " $PARTS " == *" streams "* ]]; then
  bash "$ROOT/bench/live_queries.sh"
fi
