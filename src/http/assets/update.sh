#!/usr/bin/env bash
# Refreshes the browser files the binary embeds (GraphiQL with React for the playground,
# lightweight-charts for the chart page) from their npm packages at the pinned versions:
# `npm pack` checks each tarball against the registry's integrity sum, the files and their
# packages' licences are copied here, and SHA256SUMS records what the binary embeds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent graphiql@4.1.2 react@18.3.1 react-dom@18.3.1 lightweight-charts@5.2.1 >/dev/null
for t in *.tgz; do mkdir "${t%.tgz}" && tar xzf "$t" -C "${t%.tgz}"; done
cp graphiql-4.1.2/package/graphiql.min.js graphiql-4.1.2/package/graphiql.min.css "$here/"
cp graphiql-4.1.2/package/LICENSE "$here/LICENSE.graphiql"
cp react-18.3.1/package/umd/react.production.min.js "$here/"
cp react-18.3.1/package/LICENSE "$here/LICENSE.react"
cp react-dom-18.3.1/package/umd/react-dom.production.min.js "$here/"
cp react-dom-18.3.1/package/LICENSE "$here/LICENSE.react-dom"
cp lightweight-charts-5.2.1/package/dist/lightweight-charts.standalone.production.js "$here/"
cp lightweight-charts-5.2.1/package/LICENSE "$here/LICENSE.lightweight-charts"
cd "$here"
sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js \
  lightweight-charts.standalone.production.js > SHA256SUMS
cat SHA256SUMS
