//! `/chart`: candles and volume of one ticker (daily bars) or symbol (minute candles) drawn with
//! lightweight-charts (embedded, see `assets`), history loaded through `ohlcvSeries` /
//! `candleSeries` and kept current by the `ohlcvBars` / `candles` subscription over
//! graphql-transport-ws. `?ticker=005930&region=KR&interval=DAY` or `?symbol=HPG&interval=M1`.
use axum::response::Response;

pub fn page() -> Response {
    super::assets::page(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>QuantGraph · chart</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{margin:0;font:13px system-ui,sans-serif;color:#1f2933}
form{display:flex;gap:6px;align-items:center;padding:8px 10px;border-bottom:1px solid #d9dee3;height:28px}
form b{margin-right:8px} input{width:90px} #status{color:#52606d;margin-left:8px}
#chart{position:absolute;top:45px;left:0;right:0;bottom:0}
</style></head>
<body>
<form id="form"><b>QuantGraph</b>
<label><input type="radio" name="kind" value="bars"> daily bars</label>
<label><input type="radio" name="kind" value="candles"> candles</label>
<input id="instrument" placeholder="ticker / symbol" aria-label="ticker or symbol">
<input id="region" placeholder="region" aria-label="region">
<select id="interval" aria-label="interval"></select>
<button>Load</button><span id="status"></span></form>
<div id="chart"></div>
<script src="__ASSETS__/lightweight-charts.standalone.production.js"></script>
<script>
'use strict';
const INTERVALS = { bars: ['DAY', 'WEEK', 'MONTH', 'QUARTER', 'YEAR'], candles: ['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1'] };
const HISTORY = {
  bars: `query($ticker: String!, $region: String!, $interval: BarInterval!, $n: Int) {
    s: ohlcvSeries(ticker: $ticker, region: $region, interval: $interval, countBack: $n) { t noData numbers { o h l c v } } }`,
  candles: `query($symbol: String!, $interval: CandleInterval!, $n: Int) {
    s: candleSeries(symbol: $symbol, interval: $interval, countBack: $n) { t noData numbers { o h l c v } } }`,
};
const LIVE = {
  bars: `subscription($t: [TickerKey!]!, $interval: BarInterval) { ohlcvBars(tickers: $t, interval: $interval) { bucket open high low close volume } }`,
  candles: `subscription($s: [String!]!, $interval: CandleInterval) { candles(symbols: $s, interval: $interval) { bucket open high low close volume } }`,
};
const $ = (id) => document.getElementById(id);
const status = (text) => { $('status').textContent = text; };

const chart = LightweightCharts.createChart($('chart'), { autoSize: true, timeScale: { timeVisible: true } });
const candles = chart.addSeries(LightweightCharts.CandlestickSeries, {});
const volume = chart.addSeries(LightweightCharts.HistogramSeries, { priceScaleId: 'volume', priceFormat: { type: 'volume' }, color: '#9fb3c8' });
chart.priceScale('volume').applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
// What the page shows, for tests and for the curious.
window.qgChart = { chart, candles, volume, history: 0, live: 0, last: null, ready: false };

async function gql(query, variables) {
  const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = await r.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

function show(bar) {
  candles.update({ time: bar.time, open: bar.open, high: bar.high, low: bar.low, close: bar.close });
  volume.update({ time: bar.time, value: bar.volume });
  window.qgChart.last = bar;
}

let socket = null;
function follow(kind, vars) {
  if (socket) socket.close();
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws', 'graphql-transport-ws');
  socket = ws;
  ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'connection_ack') {
      const variables = kind === 'bars' ? { t: [{ ticker: vars.ticker, region: vars.region }], interval: vars.interval } : { s: [vars.symbol], interval: vars.interval };
      ws.send(JSON.stringify({ id: 'live', type: 'subscribe', payload: { query: LIVE[kind], variables } }));
      window.qgChart.subscribed = true;
    } else if (msg.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong' }));
    } else if (msg.type === 'next' && msg.payload.data) {
      const b = msg.payload.data.ohlcvBars || msg.payload.data.candles;
      // The forming bar of `bucket` (a date, or a time with its offset): same time replaces it.
      const time = Date.parse(b.bucket) / 1000;
      show({ time, open: +b.open, high: +b.high, low: +b.low, close: +b.close, volume: +b.volume });
      window.qgChart.live += 1;
      status(`live: ${window.qgChart.live} update(s)`);
    } else if (msg.type === 'error' || (msg.type === 'next' && msg.payload.errors)) {
      status('live feed: ' + JSON.stringify(msg.payload));
    }
  };
}

async function load() {
  const p = new URLSearchParams(location.search);
  const kind = p.get('symbol') ? 'candles' : 'bars';
  const vars = kind === 'bars'
    ? { ticker: p.get('ticker') || '005930', region: p.get('region') || 'KR', interval: p.get('interval') || 'DAY', n: 500 }
    : { symbol: p.get('symbol'), interval: p.get('interval') || 'M1', n: 500 };
  document.querySelector(`input[value=${kind}]`).checked = true;
  $('instrument').value = vars.ticker || vars.symbol;
  $('region').value = vars.region || '';
  $('region').disabled = kind === 'candles';
  $('interval').replaceChildren(...INTERVALS[kind].map((iv) => new Option(iv, iv, false, iv === vars.interval)));
  status('loading…');
  try {
    const s = (await gql(HISTORY[kind], vars)).s;
    const n = s.numbers;
    candles.setData(s.t.map((time, i) => ({ time, open: n.o[i], high: n.h[i], low: n.l[i], close: n.c[i] })));
    volume.setData(s.t.map((time, i) => ({ time, value: n.v[i] })));
    chart.timeScale().fitContent();
    window.qgChart.history = s.t.length;
    status(s.noData ? 'no data' : `${s.t.length} ${kind === 'bars' ? 'bars' : 'buckets'}`);
    follow(kind, vars);
  } catch (e) {
    status('error: ' + e.message);
  }
  window.qgChart.ready = true;
}

$('form').onsubmit = (e) => {
  e.preventDefault();
  const kind = document.querySelector('input[name=kind]:checked').value;
  const q = new URLSearchParams({ interval: $('interval').value });
  if (kind === 'bars') { q.set('ticker', $('instrument').value); q.set('region', $('region').value); } else { q.set('symbol', $('instrument').value); }
  history.pushState(null, '', '?' + q);
  load();
};
for (const r of document.querySelectorAll('input[name=kind]')) {
  r.onchange = () => { $('interval').replaceChildren(...INTERVALS[r.value].map((iv) => new Option(iv, iv))); $('region').disabled = r.value === 'candles'; };
}
window.onpopstate = load;
load();
</script></body></html>"#;
