// Apollo Client's InMemoryCache with no type policies, as apps start with: a ticker read by two
// different queries (a list and the one-row field) is one cache entry keyed by its global id,
// and its details (a composite-key table) are one entry too. An update seen through one query
// shows through the other. Prints one JSON report.
import apollo from "@apollo/client/core/core.cjs";

const { ApolloClient, InMemoryCache, HttpLink, gql } = apollo;
const [url] = process.argv.slice(2);
const client = new ApolloClient({ link: new HttpLink({ uri: url, fetch }), cache: new InMemoryCache() });
const list = gql`query List { tickers(first: 3, where: { region: { eq: "KR" } }, orderBy: [{ ticker: ASC }]) {
  nodes { id ticker name stockDetails { id sector } } } }`;
const one = gql`query One($t: String!) { ticker(ticker: $t, region: "KR") {
  id rowId name exchange stockDetails { id sector marketCap } } }`;
const a = await client.query({ query: list });
const first = a.data.tickers.nodes[0];
const b = await client.query({ query: one, variables: { t: first.ticker } });
const entries = client.cache.extract();
// Both queries' ROOT_QUERY fields point at the same entry.
const root = entries.ROOT_QUERY;
const listRefs = Object.entries(root).filter(([k]) => k.startsWith("tickers(")).flatMap(([, v]) => v.nodes.map((n) => n.__ref));
const oneRef = Object.entries(root).find(([k]) => k.startsWith("ticker("))?.[1]?.__ref ?? null;
// The entry merged both queries' fields; the list read from the cache now shows them too.
client.cache.modify({ id: client.cache.identify(b.data.ticker), fields: { name: () => "renamed in the cache" } });
const again = client.readQuery({ query: list });
console.log(JSON.stringify({
  keys: Object.keys(entries).sort(),
  listRefs,
  oneRef,
  entry: entries[oneRef] ?? null,
  identified: client.cache.identify(b.data.ticker),
  listNameAfter: again.tickers.nodes[0].name,
}));
process.exit(0);
