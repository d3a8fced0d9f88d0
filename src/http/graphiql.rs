//! The playground is GraphiQL itself: graphiql 4.1.2 with React and ReactDOM 18.3.1, taken
//! from their npm packages by `graphiql/update.sh` (sha256 sums and licences beside them) and
//! embedded in the binary, so the page needs no network beyond this server. The files are served
//! under paths that carry a hash of their bytes, gzip-compressed once, and cached by browsers
//! for good.
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::hash::{DefaultHasher, Hasher};
use std::io::Write as _;
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    mime: &'static str,
    bytes: &'static [u8],
    gzip: OnceLock<Vec<u8>>,
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset { name: $name, mime: $mime, bytes: include_bytes!(concat!("graphiql/", $name)), gzip: OnceLock::new() }
    };
}

static ASSETS: [Asset; 4] = [
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
];

/// One hash over all embedded files: a new build with other files gets new addresses.
fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = DefaultHasher::new();
        ASSETS.iter().for_each(|a| h.write(a.bytes));
        format!("{:016x}", h.finish())
    })
}

/// Where the page loads its files from.
pub const PREFIX: &str = "/graphiql";

/// `GET /graphiql/{version}/{file}`.
pub async fn asset(
    axum::extract::Path((v, file)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == file).filter(|_| v == version()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let gzip_ok = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")));
    let mut resp = if gzip_ok {
        let body = a.gzip.get_or_init(|| {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            enc.write_all(a.bytes).expect("writing to memory");
            enc.finish().expect("writing to memory")
        });
        let mut r = body.as_slice().into_response();
        r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        r
    } else {
        a.bytes.into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    resp
}

/// The page at `GET /graphql` for browsers. Its content security policy allows this origin
/// only, so nothing it loads or sends can leave for another.
pub fn page() -> Response {
    let html = PAGE
        .replace("__PREFIX__", &format!("{PREFIX}/{}", version()))
        .replace("__TABS__", &serde_json::to_string(&tabs()).unwrap_or_default());
    let mut resp = axum::response::Html(html).into_response();
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'",
        ),
    );
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
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

/// GraphiQL's opening tabs: the example read, a login, and a query sent with a token.
fn tabs() -> serde_json::Value {
    serde_json::json!([
        { "query": EXAMPLE, "headers": "{\n  \"Time-Zone\": \"Asia/Seoul\"\n}" },
        { "query": LOGIN },
        { "query": ME, "headers": "{\n  \"Authorization\": \"Bearer <token from Login>\"\n}" },
    ])
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantGraph · GraphiQL</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="__PREFIX__/graphiql.min.css">
<style>body{margin:0;height:100vh;overflow:hidden}#graphiql{height:100vh}</style>
</head><body><div id="graphiql">Loading GraphiQL…</div>
<script src="__PREFIX__/react.production.min.js"></script>
<script src="__PREFIX__/react-dom.production.min.js"></script>
<script src="__PREFIX__/graphiql.min.js"></script>
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
