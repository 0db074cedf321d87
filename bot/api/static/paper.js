// Paper view: the bars' candles with the bot's fills, the open position's stop-loss / take-profit lines, the equity
// curve, fills and orders, and the kill switch (lightweight-charts, vendored; its attribution logo stays on as its
// licence asks). Bars recorded before the state kept candles (older state files) are drawn as a close line.
import { $, api, badge, el, fmtNum, fmtTime } from "./util.js";

const LWC = window.LightweightCharts;
const view = { price: null, equity: null, candleSeries: null, closeSeries: null, equitySeries: null,
  candleMarkers: null, closeMarkers: null, priceLines: [], levelSeries: null, levels: [] };
// Bars are identified by their open time; the chart shows local times like the rest of the page.
const localTime = (seconds) => new Date(seconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit" });

const tickTime = (seconds) => new Date(seconds * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

function makeChart(node) {
  return LWC.createChart(node, { autoSize: true, layout: { attributionLogo: true },
    localization: { timeFormatter: localTime },
    timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickTime } });
}

// the price scale also spans the entry, stop-loss and take-profit, so a line is never off the chart
function withLevels(original) {
  const info = original();
  if (!info || view.levels.length === 0) { return info; }
  const range = info.priceRange;
  return { ...info, priceRange: { minValue: Math.min(range.minValue, ...view.levels),
    maxValue: Math.max(range.maxValue, ...view.levels) } };
}

function ensureCharts() {
  if (view.price) { return; }
  view.price = makeChart($("paper-price"));
  view.closeSeries = view.price.addSeries(LWC.LineSeries, { color: "#1d2330", lineWidth: 2, title: "close",
    autoscaleInfoProvider: withLevels });
  view.candleSeries = view.price.addSeries(LWC.CandlestickSeries, { upColor: "#1f9d55", downColor: "#d64545",
    borderVisible: false, wickUpColor: "#1f9d55", wickDownColor: "#d64545", autoscaleInfoProvider: withLevels });
  view.closeMarkers = LWC.createSeriesMarkers(view.closeSeries, []);
  view.candleMarkers = LWC.createSeriesMarkers(view.candleSeries, []);
  view.equity = makeChart($("paper-equity"));
  view.equitySeries = view.equity.addSeries(LWC.LineSeries, { color: "#2f6fde", lineWidth: 2, title: "equity" });
}

// lightweight-charts needs strictly increasing times: keep the last value of each second.
function uniqueByTime(points) {
  const byTime = new Map(points.map((p) => [p.time, p]));
  return [...byTime.values()].sort((a, b) => a.time - b.time);
}

function kpis(state) {
  const a = state.account || {};
  const pos = state.position;
  const rows = [
    ["equity", fmtNum(a.equity)], ["cash", fmtNum(a.cash)], ["day P&L", fmtNum(a.daily_pnl)], ["total P&L", fmtNum(a.pnl_total)],
    ["position", pos ? `${fmtNum(pos.qty, 6)} @ ${fmtNum(pos.entry_price)}` : "flat"],
    ["stop-loss", pos && pos.stop_loss > 0 ? fmtNum(pos.stop_loss) : "none"],
    ["take-profit", pos && pos.take_profit > 0 ? fmtNum(pos.take_profit) : "none"],
    ["kill switch", state.kill_switch ? `TRIPPED: ${state.kill_switch}` : "armed (not tripped)"],
    ["mode", a.mode || "–"], ["symbol", a.symbol || "–"], ["last update", fmtTime(state.updated_at)],
  ];
  return rows.map(([k, v]) => el("div", { className: k === "kill switch" && state.kill_switch ? "kpi bad" : "kpi" }, [
    el("span", { className: "muted small", textContent: k }), el("strong", { textContent: v })]));
}

function tableRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => el("tr", {}, cells.map((c) => el("td", { textContent: c })))));
  if (rows.length === 0) { tbody.append(el("tr", {}, [el("td", { colSpan: 6, className: "muted", textContent: "none yet" })])); }
}

// A bar with its candle is drawn as one; a bar with only its close (an older state file) on the close line.
function priceData(bars) {
  const candles = [];
  const closes = [];
  for (const b of bars) {
    const time = b.open_ms / 1000;
    if (b.open != null && b.high != null && b.low != null && b.close != null) {
      candles.push({ time, open: b.open, high: b.high, low: b.low, close: b.close });
    } else if (b.close != null) {
      closes.push({ time, value: b.close });
    }
  }
  return { candles: uniqueByTime(candles), closes: uniqueByTime(closes) };
}

function fillMarker(f) {
  const buy = f.side === "buy";
  return { time: f.bar_open_ms / 1000, position: buy ? "belowBar" : "aboveBar", color: buy ? "#1f9d55" : "#d64545",
    shape: buy ? "arrowUp" : "arrowDown", text: `${f.side} ${fmtNum(f.qty, 4)} @ ${fmtNum(f.price)}` };
}

function drawPrice(state) {
  const { candles, closes } = priceData(state.bars);
  view.candleSeries.setData(candles);
  view.closeSeries.setData(closes);
  // a fill goes on the series drawing its bar: candles from the first candle on, the close line before
  const firstCandle = candles.length ? candles[0].time : Infinity;
  const firstClose = closes.length ? closes[0].time : firstCandle;
  const markers = state.fills.map(fillMarker).sort((a, b) => a.time - b.time);
  view.candleMarkers.setMarkers(markers.filter((m) => m.time >= firstCandle));
  view.closeMarkers.setMarkers(markers.filter((m) => m.time >= firstClose && m.time < firstCandle));
  view.priceLines.forEach((line) => view.levelSeries.removePriceLine(line));
  view.priceLines = [];
  view.levelSeries = candles.length ? view.candleSeries : view.closeSeries;
  const pos = state.position;
  view.levels = pos && pos.qty !== 0 ? [pos.entry_price, pos.stop_loss, pos.take_profit].filter((p) => p > 0) : [];
  if (pos && pos.qty !== 0) {
    const series = view.levelSeries;
    view.priceLines.push(series.createPriceLine({ price: pos.entry_price, color: "#6b7383", lineStyle: 2, title: "entry" }));
    if (pos.stop_loss > 0) { view.priceLines.push(series.createPriceLine({ price: pos.stop_loss, color: "#d64545", title: "SL" })); }
    if (pos.take_profit > 0) { view.priceLines.push(series.createPriceLine({ price: pos.take_profit, color: "#1f9d55", title: "TP" })); }
  }
  $("paper-price").dataset.kind = candles.length ? (closes.length ? "candles+close" : "candles") : "close";
}

function drawCharts(state) {
  ensureCharts();
  drawPrice(state);
  view.equitySeries.setData(uniqueByTime(state.equity.map((e) => ({ time: e.time_ms / 1000, value: e.equity }))));
  view.price.timeScale().fitContent();
  view.equity.timeScale().fitContent();
}

export async function loadPaper() {
  let state;
  try {
    state = await api("/api/paper");
  } catch (err) {
    if (err.status !== 0) { $("paper-message").textContent = err.message; }  // offline: the last data stays
    return;
  }
  $("paper-state").replaceWith(Object.assign(badge(state.running ? "running" : "stopped"), { id: "paper-state" }));
  $("paper-message").textContent = state.message;
  $("paper-kpis").replaceChildren(...kpis(state));
  tableRows($("paper-fills").tBodies[0], state.fills.slice().reverse().map((f) => [fmtTime(f.bar_open_ms, true), f.side,
    fmtNum(f.qty, 6), fmtNum(f.price), fmtNum(f.fee, 4)]));
  tableRows($("paper-orders").tBodies[0], state.orders.slice().reverse().map((o) => [fmtTime(o.bar_open_ms, true), o.side,
    fmtNum(o.qty, 6), fmtNum(o.filled, 6), fmtNum(o.average_price), o.error ? `${o.status}: ${o.error}` : o.status]));
  $("paper-panel").dataset.fills = String(state.fills.length);
  drawCharts(state);
}
