// Subscriptions over plain HTTP through the clients frontends use, unchanged: graphql-sse's
// client (distinct connections mode) and Apollo Client's HttpLink (multipart subscriptions).
// Each takes the first answer of a live query; then this script tells the caller (a line on
// stderr: "ready") and waits for the next answer, which the caller's write causes. Prints one
// JSON report: what each client received.
import apollo from "@apollo/client/core/core.cjs";
import { createClient } from "graphql-sse";

const { ApolloClient, InMemoryCache, HttpLink, gql } = apollo;
const [url, ticker, token] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const LIVE = `subscription Live($t: String!) {
  live { ohlcvData(where: { ticker: { eq: $t } }, orderBy: [{ date: DESC }], first: 1) { nodes { date close } } }
}`;

const report = { sse: [], multipart: [] };
const twoEach = (name, push) => new Promise((resolve) => {
  push((data) => {
    const { date, close } = data.live.ohlcvData.nodes[0];
    report[name].push({ date, close });
    if (report[name].length === 2) resolve();
  });
});
const sse = createClient({ url, headers, singleConnection: false, retryAttempts: 0 });
const sseDone = twoEach("sse", (on) => sse.subscribe({ query: LIVE, variables: { t: ticker } }, {
  next: (r) => { if (r.data) on(r.data); else report.sse.push({ errors: r.errors }); },
  error: (e) => report.sse.push({ error: String(e) }),
  complete: () => {},
}));
const apolloClient = new ApolloClient({ link: new HttpLink({ uri: url, headers }), cache: new InMemoryCache() });
const multipartDone = twoEach("multipart", (on) =>
  apolloClient.subscribe({ query: gql(LIVE), variables: { t: ticker } }).subscribe({
    next: (r) => on(r.data),
    error: (e) => report.multipart.push({ error: String(e) }),
  }));
const firsts = setInterval(() => {
  if (report.sse.length >= 1 && report.multipart.length >= 1) {
    clearInterval(firsts);
    process.stderr.write("ready\n");
  }
}, 20);
const timeout = setTimeout(() => { console.log(JSON.stringify({ ...report, timedOut: true })); process.exit(0); }, 20000);
await Promise.all([sseDone, multipartDone]);
clearTimeout(timeout);
console.log(JSON.stringify(report));
process.exit(0);
