// Runs view: run folders (checkpoints, data, dates, validation metrics) beside the selected run, its evaluation
// reports (shown inside the page) and a form that starts an evaluation job.
import { $, api, el, fmtNum, fmtPct, fmtTime, renderPager } from "./util.js";

const PAGE_SIZE = 25;
export const runs = { page: 1, total: 0, list: [], selected: null, report: null };

function dataLabel(data) {
  const parts = [data.symbol, data.timeframe, data.file || data.source].filter(Boolean);
  return parts.join(" · ") || "data unknown";
}

function runItem(run) {
  const v = run.validation;
  const item = el("li", {}, [el("a", { href: `#/runs/${run.run_id}` }, [
    el("div", { className: "row" }, [el("strong", { textContent: run.run_id }),
      el("span", { className: "badge", textContent: run.algorithm || "?" })]),
    el("div", { className: "muted small", textContent: `${dataLabel(run.data)} · ${fmtTime(run.modified_at)}` }),
    el("div", { className: "small", textContent: `Sharpe ${fmtNum(v.sharpe)} · return ${fmtPct(v.total_return)}`
      + ` · max DD ${fmtPct(v.max_drawdown)}` }),
  ])]);
  item.dataset.runId = run.run_id;
  if (run.run_id === runs.selected) { item.classList.add("selected"); }
  return item;
}

export async function loadRuns(page) {
  if (page) { runs.page = page; }
  const body = await api(`/api/runs?page=${runs.page}&page_size=${PAGE_SIZE}`);
  runs.list = body.runs;
  runs.total = body.total;
  $("runs-total").textContent = `(${body.total})`;
  const list = $("runs-list");
  list.replaceChildren(...runs.list.map(runItem));
  if (runs.list.length === 0) { list.append(el("li", { className: "muted", textContent: "no run folders yet" })); }
  renderPager($("runs-pager"), runs.page, PAGE_SIZE, runs.total, (p) => loadRuns(p).catch(() => {}));
}

function kv(rows) {
  return el("dl", { className: "kv" }, rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
}

function evaluateForm(run) {
  const which = el("select", { id: "e-which" }, run.checkpoints.map((c) => el("option", {
    value: c.startsWith("step_") ? c.slice(5) : c, textContent: c })));
  const split = el("select", { id: "e-split" }, ["test", "validation", "train"].map((s) => el("option", { textContent: s })));
  const message = el("p", { id: "e-message", className: "message", role: "status" });
  const form = el("form", { id: "evaluate-form", className: "inline-form" }, [
    el("label", {}, ["Checkpoint ", which]), el("label", {}, ["Split ", split]),
    el("button", { id: "e-submit", className: "primary", type: "submit", textContent: "Evaluate" })]);
  form.onsubmit = async (e) => {
    e.preventDefault();
    try {
      const reply = await api("/api/evaluations", { method: "POST",
        json: { run_id: run.run_id, which: which.value, split: split.value } });
      message.className = "message";
      message.replaceChildren(`evaluation job ${reply.job_id} accepted: `,
        el("a", { href: `#/jobs/${reply.job_id}`, textContent: "follow it" }));
    } catch (err) {
      message.className = "message error";
      message.textContent = err.message;
    }
  };
  return [form, message];
}

// The report runs no script (sandbox) but keeps this server's origin, so its PNGs load.
function reportFrame(src, report) {
  const frame = el("iframe", { id: "r-report", src, title: `report ${report}`, className: "report" });
  frame.setAttribute("sandbox", "allow-same-origin");
  return frame;
}

export async function showRun(runId, report) {
  runs.selected = runId;
  runs.report = report;
  document.querySelectorAll("#runs-list li").forEach((li) => li.classList.toggle("selected", li.dataset.runId === runId));
  const node = $("run-detail");
  let run;
  try {
    run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  } catch (err) {
    if (err.status === 0 && node.dataset.runId === runId) { return; }
    node.dataset.runId = "";
    node.replaceChildren(el("a", { href: "#/runs", className: "back", textContent: "‹ runs" }),
      el("p", { id: "r-missing", className: "error", textContent: err.message }));
    return;
  }
  node.dataset.runId = runId;
  const v = run.validation;
  const reports = el("ul", { id: "r-reports", className: "links" }, run.reports.map((name) => el("li", {}, [
    el("a", { href: `#/runs/${run.run_id}/report/${name}`, textContent: name })])));
  if (run.reports.length === 0) { reports.append(el("li", { className: "muted", textContent: "no report yet" })); }
  const parts = [
    el("a", { href: "#/runs", className: "back", textContent: "‹ runs" }),
    el("h2", { id: "r-id", textContent: run.run_id }),
    kv([["algorithm", run.algorithm || "?"], ["status", run.status || "?"],
      ["timesteps", `${fmtNum(run.timesteps, 0)} / ${fmtNum(run.total_timesteps, 0)}`],
      ["data", dataLabel(run.data)], ["data span", `${run.data.start || "start"} → ${run.data.end || "end"}`],
      ["created", run.created ? fmtTime(Date.parse(run.created), true) : "–"], ["checkpoints", run.checkpoints.join(", ") || "none"],
      ["val. Sharpe", fmtNum(v.sharpe)], ["val. return", fmtPct(v.total_return)], ["val. max drawdown", fmtPct(v.max_drawdown)],
      ["val. trades", fmtNum(v.trades, 0)], ["val. cost drag", fmtPct(v.cost_drag)]]),
    el("h3", { textContent: "Evaluate" }), ...evaluateForm(run),
    el("h3", { textContent: "Reports" }), reports,
  ];
  if (report) {
    const src = `/api/runs/${encodeURIComponent(run.run_id)}/files/${encodeURIComponent(report)}/report.html`;
    parts.push(el("h3", {}, [`Report ${report} `, el("a", { href: src, target: "_blank", textContent: "open alone" })]),
      run.reports.includes(report)
        ? reportFrame(src, report)
        : el("p", { id: "r-report-missing", className: "error", textContent: `run ${run.run_id} has no report ${report}` }));
  }
  node.replaceChildren(...parts);
}
