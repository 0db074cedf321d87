// Dashboard of the training-control API: plain JS, no build step, no network access beyond this server.
"use strict";

const TOKEN_KEY = "botApiToken";
const TERMINAL = ["completed", "failed", "cancelled", "interrupted"];
const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  jobs: new Map(),
  selected: null,
  lastSeq: 0,
  ws: null,
  wsRetry: 0,
  wsTimer: null,
  series: [],
};

const $ = (id) => document.getElementById(id);

function el(tag, props, children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  (children || []).forEach((c) => node.append(c));
  return node;
}

function describeError(body, status) {
  if (body && typeof body.detail === "string") { return body.detail; }
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "body"}: ${d.msg}`).join("\n");
  }
  return `HTTP ${status}`;
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  if (state.token) { opts.headers.Authorization = `Bearer ${state.token}`; }
  if (opts.json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  const response = await fetch(path, opts);
  const body = await response.json().catch(() => null);
  if (!response.ok) { throw new Error(describeError(body, response.status)); }
  return body;
}

function setDot(id, cls, title) {
  const node = $(id);
  node.className = `dot ${cls}`;
  node.title = title;
}

function pct(job) { return `${Math.round(job.progress * 100)}%`; }

function progressBar(job) {
  const bar = el("div", { className: "bar" }, [el("div", { className: "fill" }), el("span", { textContent: pct(job) })]);
  bar.firstChild.style.width = pct(job);
  return bar;
}

function actionButtons(job) {
  const cell = el("td");
  if (!TERMINAL.includes(job.status)) {
    const b = el("button", { className: "cancel", textContent: job.cancel_requested ? "Cancelling…" : "Cancel" });
    b.dataset.jobId = job.id;
    b.onclick = (e) => { e.stopPropagation(); cancelJob(job.id); };
    cell.append(b);
  } else if (job.status !== "completed" && job.checkpoint) {
    const b = el("button", { className: "resume", textContent: "Resume" });
    b.dataset.jobId = job.id;
    b.onclick = (e) => { e.stopPropagation(); resumeJob(job.id); };
    cell.append(b);
  }
  return cell;
}

function renderJobs() {
  const body = $("jobs-body");
  const jobs = [...state.jobs.values()].sort((a, b) => b.created_at - a.created_at);
  body.replaceChildren();
  if (jobs.length === 0) {
    body.append(el("tr", {}, [el("td", { colSpan: 8, className: "muted", textContent: "no jobs yet" })]));
  }
  for (const job of jobs) {
    const row = el("tr", {}, [
      el("td", { textContent: job.id }),
      el("td", {}, [el("span", { className: `badge status ${job.status}`, textContent: job.status })]),
      el("td", {}, [progressBar(job)]),
      el("td", { textContent: `${job.timesteps} / ${job.total_timesteps}` }),
      el("td", { textContent: job.fps == null ? "–" : job.fps.toFixed(0) }),
      el("td", { textContent: job.algo }),
      el("td", { textContent: new Date(job.created_at * 1000).toLocaleTimeString() }),
      actionButtons(job),
    ]);
    row.dataset.jobId = job.id;
    row.dataset.status = job.status;
    if (job.id === state.selected) { row.classList.add("selected"); }
    row.onclick = () => selectJob(job.id);
    body.append(row);
  }
  renderDetail();
}

function renderDetail() {
  const job = state.jobs.get(state.selected);
  $("detail-panel").hidden = !job;
  if (!job) { return; }
  $("d-id").textContent = job.id;
  $("d-status").textContent = job.status;
  $("d-status").className = `badge ${job.status}`;
  $("d-progress").style.width = pct(job);
  $("d-progress-text").textContent = `${pct(job)} · ${job.timesteps} / ${job.total_timesteps} steps`;
  $("d-error").hidden = !job.error;
  $("d-error").textContent = job.error || "";
  $("d-checkpoint").textContent = job.checkpoint || "–";
}

function metricKey(pattern) {
  for (const point of state.series) {
    const key = Object.keys(point.metrics).find((k) => pattern.test(k) && !k.startsWith("validation/"));
    if (key) { return key; }
  }
  return null;
}

function renderCharts() {
  const charts = [["chart-reward", /rew/i, "#1f9d55"], ["chart-loss", /loss/i, "#d64545"],
    ["chart-equity", /equity/i, "#2f6fde"]];
  for (const [id, pattern, color] of charts) {
    const key = metricKey(pattern);
    const points = key ? state.series.map((p) => [p.timesteps, p.metrics[key]]).filter((p) => p[1] != null) : [];
    drawLineChart($(id), points, { color, empty: key ? "no values yet" : "not reported by the trainer" });
  }
}

async function loadDetail() {
  const id = state.selected;
  if (!id) { return; }
  try {
    const [metrics, logs] = await Promise.all([api(`/api/training/jobs/${id}/metrics`),
      api(`/api/training/jobs/${id}/logs?tail=200&source=${$("d-log-source").value}`)]);
    if (id !== state.selected) { return; }
    state.series = metrics.points;
    renderCharts();
    const pre = $("d-logs");
    pre.textContent = logs.lines.join("\n");
    pre.scrollTop = pre.scrollHeight;
  } catch (err) {
    $("d-logs").textContent = `could not load: ${err.message}`;
  }
}

function selectJob(id) {
  state.selected = id;
  state.series = [];
  renderJobs();
  loadDetail();
}

async function refreshJobs() {
  try {
    const body = await api("/api/training/jobs?limit=200");
    state.jobs = new Map(body.jobs.map((j) => [j.id, j]));
    renderJobs();
  } catch (err) {
    setDot("rest-health", "bad", `jobs: ${err.message}`);
  }
}

function showMessage(text, isError) {
  $("form-message").textContent = text;
  $("form-message").className = isError ? "message error" : "message";
}

async function startJob(event) {
  event.preventDefault();
  const body = { config: $("f-config").value || "demo.yaml" };
  for (const [field, id] of [["workers", "f-workers"], ["timesteps", "f-timesteps"], ["seed", "f-seed"]]) {
    if ($(id).value !== "") { body[field] = Number($(id).value); }
  }
  for (const [field, id] of [["algo", "f-algo"], ["symbol", "f-symbol"], ["timeframe", "f-timeframe"]]) {
    if ($(id).value.trim() !== "") { body[field] = $(id).value.trim(); }
  }
  body.overrides = $("f-overrides").value.split("\n").map((s) => s.trim()).filter(Boolean);
  try {
    const reply = await api("/api/training/jobs", { method: "POST", json: body });
    showMessage(`job ${reply.job_id} accepted (it shows "running" once the trainer has started)`, false);
    state.jobs.set(reply.job_id, reply.job);
    selectJob(reply.job_id);
  } catch (err) {
    showMessage(err.message, true);
  }
}

async function cancelJob(id) {
  try {
    const reply = await api(`/api/training/jobs/${id}/cancel`, { method: "POST" });
    state.jobs.set(id, reply.job);
    renderJobs();
  } catch (err) {
    showMessage(`cancel ${id}: ${err.message}`, true);
  }
}

async function resumeJob(id) {
  try {
    const reply = await api(`/api/training/jobs/${id}/resume`, { method: "POST" });
    state.jobs.set(id, reply.job);
    renderJobs();
  } catch (err) {
    showMessage(`resume ${id}: ${err.message}`, true);
  }
}

function logEvent(msg) {
  const text = `#${msg.seq} ${msg.type} ${msg.job_id || ""} ${msg.data && msg.data.error ? msg.data.error : ""}`;
  const list = $("events");
  list.prepend(el("li", { textContent: text.trim() }));
  while (list.children.length > 60) { list.lastChild.remove(); }
}

function handleEvent(msg) {
  if (msg.type === "hello") {
    state.lastSeq = Math.max(state.lastSeq, msg.seq);
    $("last-seq").textContent = `seq ${state.lastSeq}`;
    return;
  }
  state.lastSeq = Math.max(state.lastSeq, msg.seq);
  $("last-seq").textContent = `seq ${state.lastSeq}`;
  logEvent(msg);
  const job = state.jobs.get(msg.job_id);
  if (msg.type === "training.progress" && job) {
    Object.assign(job, { timesteps: msg.data.timesteps, total_timesteps: msg.data.total_timesteps,
      progress: msg.data.progress, fps: msg.data.fps, metrics: msg.data.metrics });
    renderJobs();
    if (msg.job_id === state.selected) {
      state.series.push({ timesteps: msg.data.timesteps, metrics: msg.data.metrics });
      renderCharts();
    }
    return;
  }
  refreshJobs().then(() => { if (msg.job_id === state.selected) { loadDetail(); } });
}

function connectWs() {
  clearTimeout(state.wsTimer);
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  if (!state.token) {
    setDot("ws-health", "warn", "enter the API token to receive live events");
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = state.lastSeq > 0 ? `&since=${state.lastSeq}` : "";
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(state.token)}${since}`);
  state.ws = ws;
  ws.onopen = () => { state.wsRetry = 0; setDot("ws-health", "ok", "live events connected"); };
  ws.onmessage = (e) => handleEvent(JSON.parse(e.data));
  ws.onclose = (e) => {
    state.ws = null;
    if (e.code === 4401 || e.code === 4503) {
      setDot("ws-health", "bad", e.reason);
      showMessage(`live events: ${e.reason}`, true);
      return;
    }
    setDot("ws-health", "bad", `disconnected (${e.code}); reconnecting`);
    state.wsRetry += 1;
    state.wsTimer = setTimeout(connectWs, Math.min(10000, 300 * 2 ** state.wsRetry));
  };
}

async function pollStatus() {
  try {
    const status = await api("/api/sync/status");
    setDot("rest-health", "ok", `backend ${status.backend.version}, up ${status.backend.uptime_s.toFixed(0)} s`);
    renderPaper(status.paper);
  } catch (err) {
    setDot("rest-health", "bad", `REST: ${err.message}`);
  }
}

function renderPaper(paper) {
  $("paper-message").textContent = paper.message;
  const body = $("paper-account").querySelector("tbody");
  body.replaceChildren();
  for (const [key, value] of Object.entries(paper.account || {})) {
    body.append(el("tr", {}, [el("th", { textContent: key }), el("td", { textContent: String(value) })]));
  }
}

async function loadConfigs() {
  try {
    const body = await api("/api/training/configs");
    $("f-config").replaceChildren(...body.configs.map((c) => el("option", { value: c, textContent: c,
      selected: c === "demo.yaml" })));
  } catch (err) {
    showMessage(`configs: ${err.message}`, true);
  }
}

function init() {
  $("token-input").value = state.token;
  $("token-form").onsubmit = (e) => {
    e.preventDefault();
    state.token = $("token-input").value.trim();
    localStorage.setItem(TOKEN_KEY, state.token);
    showMessage(state.token ? "token saved in this browser" : "token cleared", false);
    connectWs();
  };
  $("start-form").onsubmit = startJob;
  $("d-log-source").onchange = loadDetail;
  loadConfigs();
  refreshJobs();
  pollStatus();
  connectWs();
  setInterval(pollStatus, 3000);
  setInterval(refreshJobs, 5000);
  setInterval(() => {
    const job = state.jobs.get(state.selected);
    if (job && !TERMINAL.includes(job.status)) { loadDetail(); }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", init);
