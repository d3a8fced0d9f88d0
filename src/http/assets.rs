//! Browser files embedded in the binary, taken from their npm packages at pinned versions by
//! `assets/update.sh` (sha256 sums and licences beside them): GraphiQL with React for the
//! playground, lightweight-charts for the chart page. Served under `/assets/{hash}/{file}`, the
//! hash covering every file, gzip-compressed once, and cached by browsers for good. The pages
//! that use them allow this origin only, so nothing they load or send leaves for another.
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
        Asset { name: $name, mime: $mime, bytes: include_bytes!(concat!("assets/", $name)), gzip: OnceLock::new() }
    };
}

static ASSETS: [Asset; 5] = [
    asset!("react.production.min.js", "text/javascript; charset=utf-8"),
    asset!("react-dom.production.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.js", "text/javascript; charset=utf-8"),
    asset!("graphiql.min.css", "text/css; charset=utf-8"),
    asset!("lightweight-charts.standalone.production.js", "text/javascript; charset=utf-8"),
];

/// One hash over all embedded files: a build with other files serves them at other addresses.
fn version() -> &'static str {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        let mut h = DefaultHasher::new();
        ASSETS.iter().for_each(|a| h.write(a.bytes));
        format!("{:016x}", h.finish())
    })
}

/// The route of the files.
pub const ROUTE: &str = "/assets/{version}/{file}";

/// A page's HTML with `__ASSETS__` replaced by the files' current address.
pub fn page(html: &str) -> Response {
    let mut resp = axum::response::Html(html.replace("__ASSETS__", &format!("/assets/{}", version()))).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'self'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// `GET /assets/{version}/{file}`.
pub async fn serve(
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
