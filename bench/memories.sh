#!/usr/bin/env bash
# Memory-search bench, one command: searchMemories latency p50/p99 and recall@10 on the embedded
# store at 10,000 and 100,000 memories (QUANTGRAPH_MEMORY_SEARCH_EF changes the search ef).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/bench/results/memories-$(date +%Y%m%d-%H%M%S).txt"
mkdir -p "$(dirname "$OUT")"
(cd "$ROOT" && cargo build --release --example memory_bench)
for n in 10000 100000; do
  "$ROOT/target/release/examples/memory_bench" --memories "$n" --queries 300
  echo
done | tee "$OUT"
echo "written to $OUT"
