// A live query through the clients frontends use, unchanged: Apollo Client's `subscribe` over
// GraphQLWsLink, and urql's `subscription` over subscriptionExchange, both on graphql-ws.
// Each client takes the first answer; then this script tells the caller (a line on stdout:
// "ready") and waits for the next answer, which the caller's write causes. Prints one JSON
// report: what each client received.
import apollo from "@apollo/client/core/core.cjs";
import wsLink from "@apollo/client/link/subscriptions/subscriptions.cjs";
import { Client as UrqlClient, subscriptionExchange, gql as urqlGql } from "@urql/core";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const { ApolloClient, InMemoryCache, gql } = apollo;
const [url, ticker] = process.argv.slice(2);
const LIVE = `subscription Live($t: String!) {
  live { ohlcvData(where: { ticker: { eq: $t } }, orderBy: [{ date: DESC }], first: 1) { nodes { date close } } }
}`;
const ws = () => createClient({ url, webSocketImpl: WebSocket, lazy: false });

const apolloClient = new ApolloClient({ link: new wsLink.GraphQLWsLink(ws()), cache: new InMemoryCache() });
const urqlWs = ws();
const urql = new UrqlClient({
  url: url.replace(/^ws/, "http"),
  exchanges: [subscriptionExchange({
    forwardSubscription: (request) => ({
      subscribe: (sink) => ({ unsubscribe: urqlWs.subscribe({ ...request, query: request.query ?? "" }, sink) }),
    }),
  })],
});

const report = { apollo: [], urql: [] };
const twoEach = (name, push) => new Promise((resolve) => {
  push((data) => {
    const { date, close } = data.live.ohlcvData.nodes[0];
    report[name].push({ date, close });
    if (report[name].length === 2) resolve();
  });
});
const apolloDone = twoEach("apollo", (on) =>
  apolloClient.subscribe({ query: gql(LIVE), variables: { t: ticker } }).subscribe({ next: (r) => on(r.data) }));
const urqlDone = twoEach("urql", (on) =>
  urql.subscription(urqlGql(LIVE), { t: ticker }).subscribe((r) => { if (r.data) on(r.data); }));
// Both hold their first answer: the caller may write.
const firsts = setInterval(() => {
  if (report.apollo.length >= 1 && report.urql.length >= 1) {
    clearInterval(firsts);
    process.stderr.write("ready\n");
  }
}, 20);
const timeout = setTimeout(() => { console.log(JSON.stringify({ ...report, timedOut: true })); process.exit(0); }, 20000);
await Promise.all([apolloDone, urqlDone]);
clearTimeout(timeout);
console.log(JSON.stringify(report));
process.exit(0);
