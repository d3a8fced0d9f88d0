//! A self-contained query playground: no external assets, so it works offline.

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
}"#;

pub fn page() -> String {
    PAGE.replace("__EXAMPLE__", &serde_json::to_string(EXAMPLE).unwrap_or_default())
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantGraph playground</title>
<style>
body{margin:0;font:14px system-ui,sans-serif;display:grid;grid-template-rows:auto 1fr;height:100vh;background:#f6f7f9}
header{display:flex;gap:12px;align-items:center;padding:8px 12px;background:#1f2933;color:#fff}
header b{font-size:16px} header input{flex:1;padding:4px;font:12px monospace} button{padding:6px 16px;font-weight:600;cursor:pointer}
main{display:grid;grid-template-columns:1fr 1fr;gap:8px;padding:8px;min-height:0}
section{display:grid;grid-template-rows:1fr auto auto;gap:6px;min-height:0}
textarea,pre{width:100%;box-sizing:border-box;font:13px/1.4 ui-monospace,monospace;border:1px solid #cbd2d9;border-radius:4px;padding:8px;background:#fff;margin:0}
textarea{resize:none} #query{height:100%} #vars{height:90px} pre{overflow:auto;height:100%}
label{font-size:12px;color:#52606d} #status{font-size:12px;color:#52606d}
</style></head>
<body>
<header><b>QuantGraph</b><button id="run" title="Ctrl+Enter">Run ▶</button>
<label>Headers (JSON)</label><input id="headers" value='{"Time-Zone": "Asia/Ho_Chi_Minh"}'><span id="status"></span></header>
<main>
<section><textarea id="query" spellcheck="false"></textarea><label>Variables (JSON)</label><textarea id="vars" spellcheck="false">{}</textarea></section>
<section><pre id="out"></pre></section>
</main>
<script>
const q = document.getElementById('query'), out = document.getElementById('out'), st = document.getElementById('status');
q.value = localStorage.getItem('qg.query') || __EXAMPLE__;
async function run() {
  localStorage.setItem('qg.query', q.value);
  let vars, hdrs;
  try { vars = JSON.parse(document.getElementById('vars').value || '{}'); hdrs = JSON.parse(document.getElementById('headers').value || '{}'); }
  catch (e) { out.textContent = 'Invalid JSON: ' + e.message; return; }
  const t0 = performance.now();
  st.textContent = 'running…';
  try {
    const r = await fetch(location.pathname, { method: 'POST', headers: Object.assign({ 'Content-Type': 'application/json' }, hdrs),
      body: JSON.stringify({ query: q.value, variables: vars }) });
    out.textContent = JSON.stringify(await r.json(), null, 2);
    st.textContent = r.status + ' in ' + Math.round(performance.now() - t0) + ' ms';
  } catch (e) { out.textContent = String(e); st.textContent = 'failed'; }
}
document.getElementById('run').onclick = run;
document.addEventListener('keydown', e => { if ((e.ctrlKey || e.metaKey) && e.key === 'Enter') run(); });
</script></body></html>"#;
