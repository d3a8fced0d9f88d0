#!/usr/bin/env bash
# Builds TimescaleDB from its source tarball and installs it into Debian's PostgreSQL 15, as the
# tarball's README says (about a minute on two cores). Usage: build-timescaledb.sh <tarball>
set -euo pipefail
tarball=$1
export DEBIAN_FRONTEND=noninteractive
need=()
[ -f /usr/include/postgresql/15/server/postgres.h ] || need+=(postgresql-server-dev-15)
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; fi
src=$(mktemp -d /tmp/timescaledb-build.XXXXXX)
trap 'rm -rf "$src"' EXIT
tar xzf "$tarball" -C "$src"
cd "$src"/timescaledb-*
./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DPG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null
make -C build -j"$(nproc)" install >/dev/null
