// QuantGraph as a federation subgraph beside a second, small one (analyst ratings of tickers,
// keyed as QuantGraph keys them), composed by @apollo/gateway from the subgraphs' own
// `_service { sdl }`. One query through the gateway asks for fields of both: the gateway reads
// the ratings subgraph's tickers and fetches their names and bars from QuantGraph's `_entities`.
// Prints one JSON report: the gateway's answer.
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { ApolloGateway, IntrospectAndCompose } from "@apollo/gateway";
import { parse } from "graphql";

const [quantgraph, query] = process.argv.slice(2);
const ratings = new ApolloServer({
  schema: buildSubgraphSchema({
    typeDefs: parse(`
      extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
      type Ticker @key(fields: "ticker region") { ticker: String! region: String! rating: String! }
      type Query { watchlist: [Ticker!]! }
    `),
    resolvers: {
      Query: {
        watchlist: () => [
          { ticker: "005930", region: "KR", rating: "BUY" },
          { ticker: "000660", region: "KR", rating: "HOLD" },
        ],
      },
      Ticker: { __resolveReference: (t) => ({ ...t, rating: "?" }) },
    },
  }),
});
const { url: ratingsUrl } = await startStandaloneServer(ratings, { listen: { port: 0 } });
const gateway = new ApolloServer({
  gateway: new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({
      subgraphs: [{ name: "quantgraph", url: quantgraph }, { name: "ratings", url: ratingsUrl }],
    }),
  }),
});
const { url } = await startStandaloneServer(gateway, { listen: { port: 0 } });
const resp = await fetch(url, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ query }),
});
console.log(JSON.stringify(await resp.json()));
process.exit(0);
