//! The playground is GraphiQL, embedded: driven in Debian's headless Chromium through
//! playwright-core (tests/browser), and the embedded files checked byte for byte over HTTP.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::io::Read as _;
use std::path::Path;

const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
const ASSET_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/assets");

/// Chromium and the npm driver, or `None` (a failure under `CI=true`) when either is missing.
fn browser_ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = Path::new(&chromium).exists() && Path::new(BROWSER_DIR).join("node_modules/playwright-core").exists();
    if !ready {
        let ci = std::env::var("CI").is_ok_and(|c| c == "true");
        assert!(!ci, "CI=true but {chromium} or {BROWSER_DIR}/node_modules is missing (tests/run.sh installs both)");
        eprintln!("browser test skipped: install Debian's chromium and run `npm ci --prefix tests/browser`");
    }
    ready
}

/// The embedded files the playground and the chart page load, by address.
async fn asset_urls(app: &TestApp) -> Vec<String> {
    let origin = app.url.trim_end_matches("/graphql").to_string();
    let mut urls: Vec<String> = Vec::new();
    for page in [app.url.clone(), format!("{origin}/chart")] {
        let resp = app.http.get(&page).header("Accept", "text/html").send().await.unwrap();
        assert_eq!(resp.status(), 200, "{page}");
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
        let html = resp.text().await.unwrap();
        for u in html.split(['"', '\'']).filter(|s| s.starts_with("/assets/")) {
            if !urls.iter().any(|x| x.ends_with(u)) {
                urls.push(format!("{origin}{u}"));
            }
        }
    }
    assert_eq!(urls.len(), 5, "{urls:?}");
    urls
}

#[tokio::test]
async fn graphiql_runs_the_example_query_and_a_subscription_offline() {
    if !browser_ready() {
        return;
    }
    let app = spawn(Backend::Sqlite).await;
    let token = app.app.state.tokens.issue("graphiql-test", Role::Service, 600).unwrap();
    let origin = app.url.trim_end_matches("/graphql").to_string();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg("graphiql.mjs")
            .arg(&origin)
            .arg(&token)
            .current_dir(BROWSER_DIR)
            .output(),
    )
    .await
    .expect("the browser run finishes within two minutes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");

    // Nothing left for another origin, nothing failed in the page.
    assert_eq!(report["foreign"], json!([]), "requests for other origins: {report}");
    assert_eq!(report["consoleErrors"], json!([]), "{report}");
    let requests = report["requests"].as_array().unwrap();
    assert!(requests.iter().filter(|u| u.as_str().unwrap().contains("/assets/")).count() == 4, "{report}");
    assert_eq!(report["websockets"], json!([format!("{}/graphql/ws", origin.replacen("http", "ws", 1))]));

    // The example query's answer in the page is the gateway's own answer to it.
    let example = report["exampleQuery"].as_str().unwrap();
    assert!(example.contains("tickers(") && example.contains("stockDetails") && example.contains("ohlcv("));
    let direct = app.gql(example, json!({})).await;
    assert!(direct["data"]["tickers"]["nodes"].as_array().unwrap().len() >= 2, "{direct}");
    assert_eq!(report["example"], direct);

    // The subscription saw the candle ingested while it was open.
    assert_eq!(report["ingest"]["data"]["ingestCandles"]["inserted"], 1, "{report}");
    assert_eq!(report["subscription"], json!({ "data": { "candles": { "symbol": "GIQL", "close": 1.75 } } }));
}

#[tokio::test]
async fn embedded_files_are_the_pinned_packages_compressed_and_cached_for_good() {
    // The embedded files are the ones whose sums were recorded from the npm packages.
    let sums = std::process::Command::new("sha256sum")
        .args(["--check", "--quiet", "SHA256SUMS"])
        .current_dir(ASSET_DIR)
        .output();
    let sums = sums.expect("sha256sum runs");
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));

    let app = spawn_with(Backend::Sqlite, false, |_| {}).await;
    let urls = asset_urls(&app).await;
    for url in &urls {
        let name = url.rsplit('/').next().unwrap();
        let on_disk = std::fs::read(Path::new(ASSET_DIR).join(name)).unwrap();
        let gz = app.http.get(url).header("Accept-Encoding", "gzip, br").send().await.unwrap();
        assert_eq!(gz.status(), 200, "{url}");
        assert_eq!(gz.headers()["content-encoding"], "gzip");
        assert_eq!(gz.headers()["cache-control"], "public, max-age=31536000, immutable");
        let packed = gz.bytes().await.unwrap();
        // (The stylesheet carries its fonts as base64 woff2, which gzip barely shrinks.)
        let at_most = if name.ends_with(".css") { on_disk.len() * 3 / 4 } else { on_disk.len() / 2 };
        assert!(packed.len() < at_most, "{name}: {} of {} bytes", packed.len(), on_disk.len());
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).unwrap();
        assert!(unpacked == on_disk, "{name} differs from its file");
        // A client without gzip gets the plain bytes.
        let plain = app.http.get(url).send().await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none());
        assert!(plain.bytes().await.unwrap() == on_disk);
    }
    let stale = urls[0].replace("/assets/", "/assets/0000000000000000-").to_string();
    assert_eq!(app.http.get(&stale).send().await.unwrap().status(), 404);

    // With introspection off, the pages and their files are off too.
    let closed = spawn_with(Backend::Sqlite, false, |c| c.introspection = false).await;
    let page = closed.http.get(&closed.url).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 404);
    let origin = closed.url.trim_end_matches("/graphql");
    assert_eq!(closed.http.get(format!("{origin}/chart")).send().await.unwrap().status(), 404);
    for url in &urls {
        let path = &url[url.find("/assets/").unwrap()..];
        assert_eq!(closed.http.get(format!("{origin}{path}")).send().await.unwrap().status(), 404, "{path}");
    }
}
