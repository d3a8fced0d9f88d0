#!/usr/bin/env bash
# The direct writer's micro-benchmark (bench/writer.rs) on the harness's database: the bench
# queries read once, then written again and again. One command; prints divan's table.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_database
trap bench_cleanup EXIT
cd "$ROOT"
QG_BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/quantgraph" cargo bench --bench writer "$@"
