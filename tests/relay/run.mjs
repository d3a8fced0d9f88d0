// Runs the compiled operations of src/app.js against the gateway with relay-runtime, as a Relay
// app would: the list, its next page, and a refetch of one row by its global id.
// Usage: node run.mjs <graphql url>   (prints one JSON report)
import { createRequire } from 'node:module';
import relay from 'relay-runtime';

// relay-compiler's artifacts are CommonJS modules that require each other.
const artifact = (name) => createRequire(import.meta.url)(`./src/__generated__/${name}.graphql.js`);
const AppQuery = artifact('appQuery');
const PageQuery = artifact('TickerListPaginationQuery');
const RefetchQuery = artifact('TickerRowRefetchQuery');
const ListFragment = artifact('app_TickerList');
const RowFragment = artifact('app_TickerRow');

const { Environment, Network, RecordSource, Store, fetchQuery, getSelector } = relay;
const url = process.argv[2];
const environment = new Environment({
  network: Network.create(async (params, variables) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: params.text, variables }),
    });
    return res.json();
  }),
  store: new Store(new RecordSource()),
});
const read = (fragment, ref) => environment.lookup(getSelector(fragment, ref)).data;

const root = await fetchQuery(environment, AppQuery, {}).toPromise();
const first = read(ListFragment, root).tickers;
const page = await fetchQuery(environment, PageQuery, { count: 2, cursor: first.pageInfo.endCursor }).toPromise();
const next = read(ListFragment, page).tickers;
const row = read(RowFragment, first.edges[0].node);
const refetched = await fetchQuery(environment, RefetchQuery, { id: row.id }).toPromise();
const again = read(RowFragment, refetched.node);
// Relay's store holds each object once, under its global id.
const source = environment.getStore().getSource();
const records = source.getRecordIDs().map((id) => source.get(id)).filter((r) => r.__typename === 'Ticker');
console.log(JSON.stringify({
  first: first.edges.map((e) => e.node.id),
  next: next.edges.map((e) => e.node.id),
  hasNextPage: first.pageInfo.hasNextPage,
  row,
  again,
  tickerRecords: records.map((r) => r.__id),
}));
