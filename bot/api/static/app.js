// Dashboard entry: hash routes (#/jobs/<id>, #/runs/<id>, #/paper), the live event stream, polling, token and the
// offline marker. Plain ES modules, no build step, nothing loaded from outside this server.
import { jobs, loadJobs, loadSelected, onProgress, renderList } from "./jobs.js";
import { renderModels } from "./models.js";
import { loadPaper } from "./paper.js";
import { loadRuns, showRun } from "./runs.js";
import { $, TOKEN_KEY, api, el, onConnectivity, session } from "./util.js";

const ws = { socket: null, retry: 0, timer: null, lastSeq: 0 };
let route = { view: "jobs", id: null, report: null };

function banner(text, isError) {
  const node = $("banner");
  node.hidden = !text;
  node.textContent = text || "";
  node.className = isError ? "banner error" : "banner";
}

function setDot(id, cls, title) {
  $(id).className = `dot ${cls}`;
  $(id).title = title;
}

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const view = ["jobs", "runs", "paper"].includes(parts[0]) ? parts[0] : "jobs";
  return { view, id: parts[1] || null, report: parts[2] === "report" ? parts[3] || null : null };
}

async function render() {
  route = parseRoute();
  for (const name of ["jobs", "runs", "paper"]) {
    $(`view-${name}`).hidden = name !== route.view;
    document.querySelector(`[data-nav=${name}]`).classList.toggle("active", name === route.view);
  }
  document.body.dataset.view = route.view;
  document.body.classList.toggle("has-selection", Boolean(route.id));
  try {
    if (route.view === "jobs") {
      jobs.selected = route.id;
      await loadJobs();
      if (route.id) { await loadSelected(refreshSelected); }
    } else if (route.view === "runs") {
      await loadRuns();
      if (route.id) { await showRun(route.id, route.report); }
    } else {
      await loadPaper();
    }
  } catch (err) {
    if (err.status !== 0) { banner(err.message, true); }
  }
}

function refreshSelected() { loadJobs().catch(() => {}); loadSelected(refreshSelected); }

function handleEvent(msg) {
  ws.lastSeq = Math.max(ws.lastSeq, msg.seq);
  if (msg.type === "hello") { return; }
  if (route.view !== "jobs") { return; }
  if (msg.type === "training.progress") {
    const job = jobs.list.find((j) => j.id === msg.job_id);
    if (job) { Object.assign(job, { progress: msg.data.progress, timesteps: msg.data.timesteps }); renderList(); }
    onProgress(msg);
    return;
  }
  loadJobs().catch(() => {});
  if (msg.job_id === jobs.selected) { loadSelected(refreshSelected); }
}

function connectWs() {
  clearTimeout(ws.timer);
  if (ws.socket) { ws.socket.onclose = null; ws.socket.close(); ws.socket = null; }
  if (!session.token) {
    setDot("ws-health", "warn", "enter the API token to receive live events");
    return;
  }
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = ws.lastSeq > 0 ? `&since=${ws.lastSeq}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(session.token)}${since}`);
  ws.socket = socket;
  socket.onopen = () => { ws.retry = 0; setDot("ws-health", "ok", "live events connected"); };
  socket.onmessage = (e) => handleEvent(JSON.parse(e.data));
  socket.onclose = (e) => {
    ws.socket = null;
    if (e.code === 4401 || e.code === 4503) {
      setDot("ws-health", "bad", e.reason);
      banner(`live events refused: ${e.reason}. Paste the current token above.`, true);
      return;
    }
    setDot("ws-health", "bad", `disconnected (${e.code}); reconnecting`);
    ws.retry += 1;
    ws.timer = setTimeout(connectWs, Math.min(5000, 250 * 2 ** ws.retry));
  };
}

async function pollStatus() {
  try {
    const status = await api("/api/sync/status");
    setDot("rest-health", "ok", `backend ${status.backend.version}, up ${status.backend.uptime_s.toFixed(0)} s`);
    renderModels(status.models);
    if (route.view === "paper") { loadPaper(); }
  } catch (err) {
    setDot("rest-health", "bad", `REST: ${err.message}`);
  }
}

async function loadConfigs() {
  try {
    const body = await api("/api/training/configs");
    $("f-config").replaceChildren(...body.configs.map((c) => el("option", { value: c, textContent: c, selected: c === "demo.yaml" })));
  } catch (err) {
    $("form-message").textContent = `configs: ${err.message}`;
  }
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
  const message = $("form-message");
  try {
    const reply = await api("/api/training/jobs", { method: "POST", json: body });
    message.className = "message";
    message.textContent = `job ${reply.job_id} accepted (it shows "running" once the trainer has started)`;
    location.hash = `#/jobs/${reply.job_id}`;
  } catch (err) {
    message.className = "message error";
    message.textContent = err.message;
  }
}

onConnectivity((online) => {
  $("offline").hidden = online;
  document.body.classList.toggle("is-offline", !online);
  if (online) { banner(""); connectWs(); render(); }
});

function init() {
  $("token-input").value = session.token;
  $("token-form").onsubmit = (e) => {
    e.preventDefault();
    session.token = $("token-input").value.trim();
    localStorage.setItem(TOKEN_KEY, session.token);
    banner(session.token ? "token saved in this browser" : "token cleared", false);
    connectWs();
  };
  $("start-form").onsubmit = startJob;
  window.addEventListener("hashchange", render);
  if (!location.hash) { history.replaceState(null, "", "#/jobs"); }
  loadConfigs();
  render();
  pollStatus();
  connectWs();
  setInterval(pollStatus, 5000);  // the product brief's 5-second sync
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js").catch(() => {}); }
}

init();
