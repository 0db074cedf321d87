// Paper view: bar closes with the bot's fills, the open position's stop-loss / take-profit lines, the equity curve,
// fills and orders, and the kill switch (lightweight-charts, vendored; its attribution logo stays on as its licence asks).
import { $, api, badge, el, fmtNum, fmtTime } from "./util.js";

const LWC = window.LightweightCharts;
const view = { price: null, equity: null, priceSeries: null, equitySeries: null, markers: null, lines: [], levels: [] };
// Bars are identified by their open time; the chart shows local times like the rest of the page.
const localTime = (seconds) => new Date(seconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit" });

const tickTime = (seconds) => new Date(seconds * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

function makeChart(node) {
  return LWC.createChart(node, { autoSize: true, layout: { attributionLogo: true },
    localization: { timeFormatter: localTime },
    timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: tickTime } });
}

function ensureCharts() {
  if (view.price) { return; }
  view.price = makeChart($("paper-price"));
  // the price scale also spans the entry, stop-loss and take-profit, so a line is never off the chart
  view.priceSeries = view.price.addSeries(LWC.LineSeries, { color: "#1d2330", lineWidth: 2, title: "close",
    autoscaleInfoProvider: (original) => {
      const info = original();
      if (!info || view.levels.length === 0) { return info; }
      const range = info.priceRange;
      return { ...info, priceRange: { minValue: Math.min(range.minValue, ...view.levels),
        maxValue: Math.max(range.maxValue, ...view.levels) } };
    } });
  view.markers = LWC.createSeriesMarkers(view.priceSeries, []);
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

function drawCharts(state) {
  ensureCharts();
  const closes = uniqueByTime(state.bars.filter((b) => b.close != null).map((b) => ({ time: b.open_ms / 1000, value: b.close })));
  view.priceSeries.setData(closes);
  view.markers.setMarkers(state.fills.map((f) => ({ time: f.bar_open_ms / 1000, position: f.side === "buy" ? "belowBar" : "aboveBar",
    color: f.side === "buy" ? "#1f9d55" : "#d64545", shape: f.side === "buy" ? "arrowUp" : "arrowDown",
    text: `${f.side} ${fmtNum(f.qty, 4)} @ ${fmtNum(f.price)}` })).filter((m) => closes.length && m.time >= closes[0].time)
    .sort((a, b) => a.time - b.time));
  view.lines.forEach((line) => view.priceSeries.removePriceLine(line));
  const pos = state.position;
  view.lines = [];
  view.levels = pos && pos.qty !== 0 ? [pos.entry_price, pos.stop_loss, pos.take_profit].filter((p) => p > 0) : [];
  if (pos && pos.qty !== 0) {
    view.lines.push(view.priceSeries.createPriceLine({ price: pos.entry_price, color: "#6b7383", lineStyle: 2, title: "entry" }));
    if (pos.stop_loss > 0) { view.lines.push(view.priceSeries.createPriceLine({ price: pos.stop_loss, color: "#d64545", title: "SL" })); }
    if (pos.take_profit > 0) { view.lines.push(view.priceSeries.createPriceLine({ price: pos.take_profit, color: "#1f9d55", title: "TP" })); }
  }
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
