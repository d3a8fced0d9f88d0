// Apollo Client sending one query as an automatic persisted query over GET, three times, each
// time from a new client (so Apollo's own cache holds nothing). `fetch` keeps what a browser's
// HTTP cache would: the body and ETag of each URL, revalidated with If-None-Match.
// Prints one JSON report: every HTTP exchange and the three results.
import apollo from "@apollo/client/core/core.cjs";
import pq from "@apollo/client/link/persisted-queries/persisted-queries.cjs";
import { createHash } from "node:crypto";

const { ApolloClient, InMemoryCache, HttpLink, gql } = apollo;
const [url, ticker] = process.argv.slice(2);
const exchanges = [];
const held = new Map();

async function browserFetch(input, init = {}) {
  const target = String(input);
  const headers = new Headers(init.headers);
  const kept = held.get(target);
  if (kept) headers.set("If-None-Match", kept.etag);
  const res = await fetch(target, { ...init, headers });
  const hashOnly = !new URL(target).searchParams.has("query");
  exchanges.push({
    method: init.method ?? "GET",
    hashOnly,
    status: res.status,
    etag: res.headers.get("etag"),
    cacheControl: res.headers.get("cache-control"),
  });
  if (res.status === 304 && kept) {
    return new Response(kept.body, { status: 200, headers: { "content-type": "application/json" } });
  }
  const body = await res.text();
  const etag = res.headers.get("etag");
  if (res.status === 200 && etag) held.set(target, { etag, body });
  return new Response(body, { status: res.status, headers: res.headers });
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const QUERY = gql`
  query Bars($t: String!) {
    ohlcvData(where: { ticker: { eq: $t } }, first: 3) {
      nodes { date close }
    }
  }
`;
const results = [];
for (let i = 0; i < 3; i++) {
  const link = pq.createPersistedQueryLink({ sha256, useGETForHashedQueries: true }).concat(
    new HttpLink({ uri: url, fetch: browserFetch }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const r = await client.query({ query: QUERY, variables: { t: ticker }, fetchPolicy: "network-only" });
  results.push(r.data);
}
console.log(JSON.stringify({ exchanges, results }));
