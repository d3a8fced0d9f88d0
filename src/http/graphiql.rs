//! The playground is GraphiQL itself: graphiql 4.1.2 with React and ReactDOM 18.3.1, embedded
//! (see `assets`), so the page needs no network beyond this server.
use crate::data::catalog::Catalog;
use crate::data::values::Cell;
use crate::graphql::identity;
use axum::response::Response;

/// The page at `GET /graphql` for browsers.
pub fn page() -> Response {
    super::assets::page(&PAGE.replace("__TABS__", &serde_json::to_string(&tabs()).unwrap_or_default()))
}

const EXAMPLE: &str = r#"# Ten KOSPI/KOSDAQ stocks with their details and their last five daily bars.
query Screen {
  tickers(first: 10, where: { region: { eq: "KR" }, assetType: { eq: "STOCK" } }) {
    totalCount
    nodes {
      ticker
      name
      stockDetails { sector marketCap }
      ohlcv(timeframe: "D", last: 5) { nodes { date open high low close volume } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"#;

const LOGIN: &str = r#"# A token for the headers of the next tab (demo accounts: analyst@quantgraph.dev,
# trader@quantgraph.dev, …; password `quantgraph`).
mutation Login {
  login(email: "analyst@quantgraph.dev", password: "quantgraph") { token user { email role } }
}
"#;

const ME: &str = r#"# Who the Authorization header below makes you (paste the token from Login).
query Me {
  me { email role }
}
"#;

/// A live query: the answer now, and again whenever a change touches it.
const LIVE: &str = r#"# Live: this answer now, and a new one each time a change touches it
# (run it, then write a bar of 005930 by a mutation or plain SQL).
subscription LiveChart {
  live {
    ohlcvData(where: { ticker: { eq: "005930" }, region: { eq: "KR" } }, orderBy: [{ date: DESC }], first: 5) {
      nodes { date close volume }
    }
  }
}
"#;

/// Relay's object identity: the global `id`, and any object fetched again by it.
fn refetch() -> String {
    let tickers = Catalog::get().table("tickers");
    let id = identity::encode(tickers, std::iter::once(Cell::Int(1)));
    format!(
        r#"# Every table type has a global `id` (its type and key; the table's own id column is
# `rowId`), and `node(id:)` fetches any object by it: Relay, Apollo and urql key by it.
query Refetch {{
  tickers(first: 2) {{ nodes {{ id rowId ticker }} }}
  node(id: "{id}") {{ id __typename ... on Ticker {{ ticker name }} }}
}}
"#
    )
}

/// GraphiQL's opening tabs: the example read, a login, a query sent with a token, a live query
/// and a refetch by id.
fn tabs() -> serde_json::Value {
    serde_json::json!([
        { "query": EXAMPLE, "headers": "{\n  \"Time-Zone\": \"Asia/Seoul\"\n}" },
        { "query": LOGIN },
        { "query": ME, "headers": "{\n  \"Authorization\": \"Bearer <token from Login>\"\n}" },
        { "query": LIVE },
        { "query": refetch() },
    ])
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantGraph · GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="__ASSETS__/graphiql.min.css">
<style>body{margin:0;height:100vh;overflow:hidden}#graphiql{height:100vh}</style>
</head><body><div id="graphiql">Loading GraphiQL…</div>
<script src="__ASSETS__/react.production.min.js"></script>
<script src="__ASSETS__/react-dom.production.min.js"></script>
<script src="__ASSETS__/graphiql.min.js"></script>
<script>
const ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
const fetcher = GraphiQL.createFetcher({ url: location.origin + '/graphql', subscriptionUrl: ws });
ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, {
  fetcher,
  defaultTabs: __TABS__,
  defaultEditorToolsVisibility: 'headers',
  shouldPersistHeaders: false,
}));
</script></body></html>"#;
