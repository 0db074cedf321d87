// Jobs view: the paginated job list beside the selected job (progress, metric tabs, logs, actions).
import { destroyChart, lineChart, watchSize } from "./charts.js";
import { trialsTable } from "./trials.js";
import { $, TERMINAL, api, badge, el, fmtDuration, fmtNum, fmtTime, renderPager } from "./util.js";

const PAGE_SIZE = 25;
// Tabs mirror the TensorBoard tags; a tab shows every metric key its pattern matches.
const TABS = [
  ["reward", /rew/i], ["losses", /loss/i], ["equity", /equity/i], ["sharpe", /sharpe/i],
  ["turnover & costs", /turnover|cost|fee/i], ["DBE modes", /^dbe\/|mode/i], ["log counters", /log|suppress|drop/i],
  ["fps", null],
];
export const jobs = { page: 1, total: 0, list: [], selected: null, job: null, series: [], tab: "reward" };

function pct(job) { return `${Math.round(job.progress * 100)}%`; }

function progressBar(job) {
  const fill = el("div", { className: "fill" });
  fill.style.width = pct(job);
  return el("div", { className: "bar" }, [fill, el("span", { textContent: pct(job) })]);
}

function jobItem(job) {
  const title = job.kind === "evaluate" ? `evaluate ${job.params.run_id} (${job.params.which})`
    : job.kind === "tune" ? `tune ${job.params.scheduler} · ${job.config}` : `${job.algo} · ${job.config}`;
  const item = el("li", {}, [el("a", { href: `#/jobs/${job.id}` }, [
    el("div", { className: "row" }, [el("strong", { textContent: job.id }), badge(job.status)]),
    el("div", { className: "muted small", textContent: `${title} · ${fmtTime(job.created_at)}` }),
    progressBar(job),
  ])]);
  item.dataset.jobId = job.id;
  item.dataset.status = job.status;
  if (job.id === jobs.selected) { item.classList.add("selected"); }
  return item;
}

export async function loadJobs(page) {
  if (page) { jobs.page = page; }
  const body = await api(`/api/training/jobs?page=${jobs.page}&page_size=${PAGE_SIZE}`);
  jobs.list = body.jobs;
  jobs.total = body.total;
  renderList();
}

export function renderList() {
  $("jobs-total").textContent = `(${jobs.total})`;
  const list = $("jobs-list");
  list.replaceChildren(...jobs.list.map(jobItem));
  if (jobs.list.length === 0) { list.append(el("li", { className: "muted", textContent: "no jobs yet" })); }
  renderPager($("jobs-pager"), jobs.page, PAGE_SIZE, jobs.total, (p) => loadJobs(p).catch(() => {}));
}

function actionButton(job, onChange) {
  if (!TERMINAL.includes(job.status)) {
    return el("button", { id: "d-cancel", className: "danger", textContent: job.cancel_requested ? "Cancelling…" : "Cancel",
      onclick: () => act(job.id, "cancel", onChange) });
  }
  if (job.kind === "train" && job.status !== "completed" && job.checkpoint) {
    return el("button", { id: "d-resume", textContent: "Resume", onclick: () => act(job.id, "resume", onChange) });
  }
  return "";
}

async function act(id, verb, onChange) {
  try {
    await api(`/api/training/jobs/${id}/${verb}`, { method: "POST" });
  } catch (err) {
    $("d-action-message").textContent = `${verb}: ${err.message}`;
  }
  onChange();
}

function runLink(job) {
  if (!job.checkpoint) { return el("span", { textContent: "–" }); }
  if (job.kind === "tune") { return el("span", { id: "d-run-link", textContent: `experiment ${job.checkpoint}` }); }
  const parts = job.checkpoint.split("/").filter(Boolean);
  const runId = job.kind === "evaluate" ? job.params.run_id : parts[parts.length - 1];
  const href = job.kind === "evaluate" ? `#/runs/${runId}/report/${job.params.report}` : `#/runs/${runId}`;
  return el("a", { id: "d-run-link", href, textContent: job.kind === "evaluate" ? `report of ${runId}` : runId });
}

function summary(job) {
  const rows = [
    ["kind", job.kind], ["algorithm", job.algo], ["data", `${job.symbol} ${job.timeframe}`],
    ["created", fmtTime(job.created_at)], ["started", fmtTime(job.started_at)], ["finished", fmtTime(job.finished_at)],
    ["duration", fmtDuration(job.started_at && ((job.finished_at || Date.now() / 1000) - job.started_at))],
    ["steps/s", fmtNum(job.fps, 0)], ["attempt", String(job.attempt)],
  ];
  for (const [key, value] of Object.entries(job.metrics || {})) {
    if (key.startsWith("validation/")) { rows.push([key, value == null ? "NaN (not a number)" : fmtNum(value, 4)]); }
  }
  return el("dl", { className: "kv" }, rows.flatMap(([k, v]) => [el("dt", { textContent: k }), el("dd", { textContent: v })]));
}

export function renderDetail(onChange) {
  const node = $("job-detail");
  const job = jobs.job;
  if (!job) { return; }
  const head = el("div", { className: "detail-head" }, [
    el("a", { href: "#/jobs", className: "back", textContent: "‹ jobs" }),
    el("h2", {}, [el("span", { id: "d-id", textContent: job.id }), " ", badge(job.status)]),
    actionButton(job, onChange),
  ]);
  head.querySelector(".badge").id = "d-status";
  const bar = progressBar(job);
  bar.classList.add("big");
  bar.lastChild.id = "d-progress-text";
  bar.lastChild.textContent = `${pct(job)} · ${job.timesteps.toLocaleString()} / ${job.total_timesteps.toLocaleString()} steps`;
  const error = el("pre", { id: "d-error", className: "error", hidden: !job.error, textContent: job.error || "" });
  const tabs = el("div", { className: "tabs", role: "tablist" }, TABS.map(([name]) => el("button", {
    textContent: name, className: name === jobs.tab ? "tab active" : "tab", onclick: () => { jobs.tab = name; renderDetail(onChange); },
  })));
  const chart = el("div", { id: "d-chart", className: "chart" });
  const note = el("p", { id: "d-chart-note", className: "muted small" });
  const logs = el("pre", { id: "d-logs", className: "logs" });
  const source = el("select", { id: "d-log-source", onchange: () => loadLogs() }, [
    el("option", { value: "output", textContent: "trainer output" }), el("option", { value: "run", textContent: "run log" })]);
  if ($("d-chart")) { destroyChart($("d-chart")); }
  node.replaceChildren(head, bar, error, el("p", { className: "muted small" }, ["run: ", runLink(job)]),
    el("p", { id: "d-action-message", className: "error" }), summary(job), job.kind === "tune" ? trialsTable(job) : "",
    tabs, chart, note,
    el("h3", {}, ["Logs ", source]), logs);
  watchSize(chart);
  renderChart();
  loadLogs();
}

export function renderChart() {
  const chart = $("d-chart");
  const note = $("d-chart-note");
  if (!chart) { return; }
  const [, pattern] = TABS.find(([name]) => name === jobs.tab);
  const points = jobs.series;
  const x = points.map((p) => p.timesteps);
  let series;
  if (pattern === null) {
    series = [{ label: "steps/s", values: points.map((p) => p.fps) }];
  } else {
    const keys = [...new Set(points.flatMap((p) => Object.keys(p.metrics)))].filter((k) => pattern.test(k));
    series = keys.map((k) => ({ label: k, values: points.map((p) => (p.metrics[k] === undefined ? null : p.metrics[k])) }));
  }
  if (series.length === 0 || points.length === 0) {
    destroyChart(chart);
    chart.replaceChildren(el("p", { className: "muted empty", textContent: points.length === 0
      ? "no progress reported yet" : `the trainer does not report ${jobs.tab} metrics` }));
    note.textContent = "";
    return;
  }
  lineChart(chart, x, series);
  const gaps = series.reduce((n, s) => n + s.values.filter((v) => v == null).length, 0);
  note.textContent = `${points.length} points${jobs.totalPoints > points.length ? ` (downsampled from ${jobs.totalPoints})` : ""}`
    + (gaps ? ` · ${gaps} values were NaN or missing and show as gaps` : "") + " · drag to zoom, double-click to reset";
}

export async function loadLogs() {
  const source = $("d-log-source");
  if (!jobs.selected || !source) { return; }
  try {
    const body = await api(`/api/training/jobs/${jobs.selected}/logs?tail=200&source=${source.value}`);
    const pre = $("d-logs");
    pre.textContent = body.lines.join("\n") || "(no lines yet)";
    pre.scrollTop = pre.scrollHeight;
  } catch (err) {
    $("d-logs").textContent = `could not load the logs: ${err.message}`;
  }
}

export async function loadSelected(onChange) {
  const id = jobs.selected;
  try {
    const [job, metrics] = await Promise.all([api(`/api/training/jobs/${id}`), api(`/api/training/jobs/${id}/metrics`)]);
    if (id !== jobs.selected) { return; }
    jobs.job = job;
    jobs.series = metrics.points;
    jobs.totalPoints = metrics.total_points;
    renderDetail(onChange);
  } catch (err) {
    if (err.status === 0 && jobs.job) { return; }  // offline: keep the last data on screen
    jobs.job = null;
    if ($("d-chart")) { destroyChart($("d-chart")); }
    $("job-detail").replaceChildren(el("a", { href: "#/jobs", className: "back", textContent: "‹ jobs" }),
      el("p", { id: "d-missing", className: "error", textContent: err.status === 404
        ? `Job ${id} does not exist (it may belong to another job store). Pick one from the list.` : err.message }));
  }
}

// A live progress event of the selected job: extend the series without reloading it.
export function onProgress(msg) {
  if (!jobs.job || msg.job_id !== jobs.selected) { return; }
  Object.assign(jobs.job, { timesteps: msg.data.timesteps, total_timesteps: msg.data.total_timesteps,
    progress: msg.data.progress, fps: msg.data.fps, metrics: Object.assign({}, jobs.job.metrics, msg.data.metrics) });
  jobs.series.push({ time: msg.data.time, timesteps: msg.data.timesteps, fps: msg.data.fps, metrics: msg.data.metrics });
  jobs.totalPoints = (jobs.totalPoints || 0) + 1;
  const text = $("d-progress-text");
  if (text) {
    text.textContent = `${pct(jobs.job)} · ${jobs.job.timesteps.toLocaleString()} / ${jobs.job.total_timesteps.toLocaleString()} steps`;
    text.previousSibling.style.width = pct(jobs.job);
  }
  renderChart();
}
