#!/usr/bin/env bash
# Runs the whole test suite against real services: a throwaway PostgreSQL 15 cluster and a
# Redis server on loopback, started here and stopped on exit. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PORT=${QG_TEST_PG_PORT:-25432}  # below the ephemeral range, so no client socket holds it
TSDB_PORT=${QG_TEST_TSDB_PORT:-25433}
STANDBY_PORT=${QG_TEST_STANDBY_PORT:-25434}
REDIS_PORT=${QG_TEST_REDIS_PORT:-26379}
WORK=$(mktemp -d /tmp/quantgraph-test.XXXXXX)
chmod 755 "$WORK"

need_apt=()
[ -x "$PG_BIN/initdb" ] || need_apt+=(postgresql-15)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v npm >/dev/null || need_apt+=(nodejs npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # the GraphiQL page test drives it headless
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  for d in standby pg tsdb; do [ -d "$WORK/$d" ] && as_pg "$PG_BIN/pg_ctl" -D "$WORK/$d" -m immediate -w stop >/dev/null 2>&1 || true; done
  [ -f "$WORK/redis.pid" ] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A throwaway cluster in $WORK/<name> on <port>; extra settings as further arguments.
start_pg() {
  local dir="$WORK/$1" port=$2
  shift 2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  as_pg "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 300"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    printf '%s\n' "$@"
  } >> "$dir/postgresql.conf"
  as_pg "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/log" -w start >/dev/null
}

# TimescaleDB 2.28.3 (hypertables, continuous aggregates, compression: the production path),
# built once from the vendored source beside this repository, in a cluster of its own.
TSDB_LIB="$PG_BIN/../lib/timescaledb-2.28.3.so"
TSDB_TARBALL=${TIMESCALEDB_TARBALL:-../shared/vendor/timescaledb-2.28.3.tar.gz}
if [ ! -f "$TSDB_LIB" ] && [ -f "$TSDB_TARBALL" ]; then
  echo "building TimescaleDB from $TSDB_TARBALL"
  bash tests/build-timescaledb.sh "$TSDB_TARBALL"
fi
# Only now a server starts: the build's apt install may upgrade postgresql-15 itself, and a
# server started before that would load the new libraries (plpgsql) into the old binary.
start_pg pg "$PG_PORT"
# A streaming standby of it (DATABASE_READ_URL in tests/api/standby.rs): a base backup over
# the replication connection initdb's trust rules allow on loopback, then replaying.
mkdir -m 700 "$WORK/standby"
[ "$(id -u)" = 0 ] && chown postgres "$WORK/standby"
as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$WORK/standby" -R -X stream -c fast
printf "port = %s\nunix_socket_directories = '%s'\n" "$STANDBY_PORT" "$WORK/standby" >> "$WORK/standby/postgresql.conf"
as_pg "$PG_BIN/pg_ctl" -D "$WORK/standby" -l "$WORK/standby/log" -w start >/dev/null
TSDB_URL=
if [ -f "$TSDB_LIB" ]; then
  start_pg tsdb "$TSDB_PORT" "shared_preload_libraries = 'timescaledb'" "timescaledb.telemetry_level = off"
  TSDB_URL="postgres://postgres@127.0.0.1:$TSDB_PORT/postgres"
fi

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"

# The graphql-http audit suite (npm, pinned by its lock file) that tests/api/http.rs runs.
[ -d tests/http-audit/node_modules/graphql-http ] || npm ci --prefix tests/http-audit --no-audit --no-fund >/dev/null
# playwright-core (npm, pinned by its lock file) drives that Chromium; it downloads no browser.
[ -d tests/browser/node_modules/playwright-core ] || npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
# Apollo Client (npm, pinned): persisted queries over GET revalidated by ETag (tests/api/cache.rs).
[ -d tests/apollo/node_modules/@apollo/gateway ] || npm ci --prefix tests/apollo --no-audit --no-fund >/dev/null
# relay-compiler and relay-runtime (npm, pinned): the Relay client of tests/api/relay.rs.
[ -d tests/relay/node_modules/relay-runtime ] || npm ci --prefix tests/relay --no-audit --no-fund >/dev/null
# graphql-codegen, its client preset and TypeScript (npm, pinned): the typed client of tests/codegen.
[ -d tests/codegen/node_modules/@graphql-codegen ] || npm ci --prefix tests/codegen --no-audit --no-fund >/dev/null

export QG_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export QG_TEST_PG_STANDBY_URL="postgres://postgres@127.0.0.1:$STANDBY_PORT/postgres"
export QG_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export CI=${CI:-true}
# The API fuzzer's count in the full run (tests/api/fuzz.rs; 1,000,000 by hand).
export QG_FUZZ_CASES=${QG_FUZZ_CASES:-50000}
# Documents per backend the differential test sends over every transport (fresh seed each run).
export QG_DIFFERENTIAL_DOCS=${QG_DIFFERENTIAL_DOCS:-2000}
# The WebSocket fuzzer's sessions (tests/api/fuzz_ws.rs; about 5 frames each).
export QG_FUZZ_WS_SESSIONS=${QG_FUZZ_WS_SESSIONS:-20000}
# The runner's own summary lines, then one total line.
set +e
cargo test --workspace "$@" 2>&1 | tee "$WORK/test.log"
status=${PIPESTATUS[0]}
# The read tests once more with the direct JSON writer switched off and reads on sea-orm's
# driver: the general executor must pass them alone (the differential test compares the two
# byte for byte), and so must the sqlx reads.
if [ "$status" = 0 ] && [ $# = 0 ]; then
  QUANTGRAPH_DIRECT_READS=false QUANTGRAPH_PG_READ_DRIVER=sqlx cargo test --test api -- read:: semantics:: buckets:: charts:: point_in_time:: 2>&1 | tee -a "$WORK/test.log"
  status=${PIPESTATUS[0]}
fi
# The migration, bucket, live-feed and analytics tests once more on TimescaleDB (hypertables).
if [ "$status" = 0 ] && [ $# = 0 ]; then
  if [ -n "$TSDB_URL" ]; then
    QG_TEST_PG_URL=$TSDB_URL QG_TEST_EXPECT_TIMESCALE=1 cargo test --test api -- foundation:: buckets:: live:: aggregates:: derived:: calendar:: point_in_time:: 2>&1 | tee -a "$WORK/test.log"
    status=${PIPESTATUS[0]}
  elif [ "$CI" = true ]; then
    echo "CI=true but TimescaleDB is neither installed ($TSDB_LIB) nor buildable (set TIMESCALEDB_TARBALL)"
    status=1
  else
    echo "TimescaleDB tests skipped: no $TSDB_LIB and no $TSDB_TARBALL"
  fi
fi
# The only tests allowed to skip: those needing a Qdrant server, run when one is named.
if [ "$status" = 0 ] && [ $# = 0 ] && [ -n "${QG_TEST_QDRANT_URL:-}" ]; then
  cargo test --test api -- --ignored memories:: 2>&1 | tee -a "$WORK/test.log"
  status=${PIPESTATUS[0]}
fi
set -e
awk '/^test result:/ { p += $4; f += $6; s += $8 }
  END { printf "tests: %d passed, %d failed, %d skipped (only the Qdrant-server tests may skip: set QG_TEST_QDRANT_URL)\n", p, f, s }' "$WORK/test.log"
exit "$status"
