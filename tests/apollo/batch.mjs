// Apollo Client's BatchHttpLink, as apps use it: three queries issued together go out as one
// POST holding a JSON array, and each gets its own result (one of them its own error). Prints
// one JSON report: how many POSTs were made and what each query got.
import apollo from "@apollo/client/core/core.cjs";
import batchHttp from "@apollo/client/link/batch-http/batch-http.cjs";

const { ApolloClient, InMemoryCache, gql } = apollo;
const [url] = process.argv.slice(2);
let posts = 0;
const counted = (input, init) => { posts += 1; return fetch(input, init); };
const link = new batchHttp.BatchHttpLink({ uri: url, batchMax: 10, batchInterval: 50, fetch: counted });
const client = new ApolloClient({ link, cache: new InMemoryCache() });
const ask = (text) => client
  .query({ query: gql(text), fetchPolicy: "no-cache", errorPolicy: "all" })
  .then((r) => ({ data: r.data ?? null, codes: (r.errors ?? []).map((e) => e.extensions?.code ?? e.message) }))
  .catch((e) => ({ failed: String(e) }));
const results = await Promise.all([
  ask("query Two { tickers(first: 2) { nodes { ticker } } }"),
  ask("query Bad { tickers(first: -1) { nodes { ticker } } }"),
  ask("query Kr { tickers(first: 1, where: { region: { eq: \"KR\" } }) { nodes { region } } }"),
]);
console.log(JSON.stringify({ posts, results }));
process.exit(0);
