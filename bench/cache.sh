#!/usr/bin/env bash
# The response cache on the three bench queries: a gateway with it on (256 MiB), measured with
# the harness's tools/bench.py beside raw SQL (pgbench) in the same pass, first alone and then
# under a steady 20 bar updates per second by plain SQL (bench/writes.py, the chart's ticker and
# the screen's 50 KR tickers), with the hit ratio from /metrics. One command; extra arguments go
# to bench.py. Results land in bench/results/cache-<time>/ (summary.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export QUANTGRAPH_RESPONSE_CACHE_BYTES=268435456
bench_start cache
cd "$HARNESS"
figures() {
  curl -s "http://127.0.0.1:$QG_PORT/metrics" | awk '/^quantgraph_response_cache_(hits|misses)_total/ { printf "%s %s\n", $1, $2 }'
}
for run in alone writes; do
  writer=
  if [ "$run" = writes ]; then
    "${PSQL[@]}" -d quantgraph -tAc "(SELECT ticker || '|' || region FROM tickers WHERE region = 'KR' ORDER BY ticker LIMIT 50) UNION ALL SELECT 'ALSP|US'" \
      | python3 "$ROOT/bench/writes.py" 20 | "${PSQL[@]}" -d quantgraph > /dev/null &
    writer=$!
  fi
  figures > "$OUT/$run-before.txt"
  BENCH_GRAPHQL_QUERIES="$ROOT/bench/queries" BENCH_GRAPHQL_URL="$URL" \
    python3 tools/bench.py --outdir "$OUT/$run" --gateway-name "QuantGraph (cache)" --targets graphql,raw --pgl-pid "$QG_PID" "$@"
  figures > "$OUT/$run-after.txt"
  [ -z "$writer" ] || kill "$writer" 2>/dev/null || true
done
python3 - "$OUT" <<'PY' | tee "$OUT/summary.md"
import json, os, sys
out = sys.argv[1]
print("| query | run | cached req/s | p50 ms | p99 ms | raw SQL tps | cached / raw | hit ratio (all three) |")
print("|---|---|---|---|---|---|---|---|")
for run in ("alone", "writes"):
    s = json.load(open(os.path.join(out, run, "summary.json")))["summary"]
    f = lambda n: {k: float(v) for k, v in (l.split() for l in open(os.path.join(out, f"{run}-{n}.txt")) if l.strip())}
    b, a = f("before"), f("after")
    hits = a["quantgraph_response_cache_hits_total"] - b["quantgraph_response_cache_hits_total"]
    misses = a["quantgraph_response_cache_misses_total"] - b["quantgraph_response_cache_misses_total"]
    for q, t in s.items():
        g, r = t["graphql"], t["raw"]
        print(f"| {q} | {run} | {g['rps']:.1f} | {g['p50_ms']:.1f} | {g['p99_ms']:.1f} | {r['rps']:.1f} | "
              f"{g['rps'] / r['rps']:.2f} | {hits / (hits + misses):.4f} |")
PY
