// Shared helpers: the API client (token, errors, offline state), DOM building and human-readable formats.
export const TOKEN_KEY = "botApiToken";
export const TERMINAL = ["completed", "failed", "cancelled", "interrupted"];
export const session = { token: localStorage.getItem(TOKEN_KEY) || "", online: true, listeners: [] };

export const $ = (id) => document.getElementById(id);

export function el(tag, props, children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  (children || []).forEach((c) => node.append(c));
  return node;
}

export function onConnectivity(listener) { session.listeners.push(listener); }

function setOnline(online) {
  if (session.online === online) { return; }
  session.online = online;
  session.listeners.forEach((f) => f(online));
}

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function describeError(body, status) {
  if (body && typeof body.detail === "string") { return body.detail; }
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "body"}: ${d.msg}`).join("\n");
  }
  return `HTTP ${status}`;
}

// Every request of the page; a network failure marks the page offline (the last data stays on screen).
export async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  if (session.token) { opts.headers.Authorization = `Bearer ${session.token}`; }
  if (opts.json !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.json);
  }
  let response;
  try {
    response = await fetch(path, opts);
  } catch (err) {
    setOnline(false);
    throw new ApiError(`the API server is unreachable (${err.message})`, 0);
  }
  setOnline(response.headers.get("X-Served-From") !== "offline-cache");
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    let message = describeError(body, response.status);
    if (response.status === 401) { message = `token rejected: ${message}. Paste the current token above.`; }
    throw new ApiError(message, response.status);
  }
  return body;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const shortTime = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

// Unix seconds (or ms with `ms`) -> local date and time in the user's time zone.
export function fmtTime(value, ms) {
  if (value == null) { return "–"; }
  const date = new Date(ms ? value : value * 1000);
  const today = new Date().toDateString() === date.toDateString();
  return today ? shortTime.format(date) : timeFormat.format(date);
}

export function fmtNum(value, digits) {
  if (value == null || !Number.isFinite(value)) { return "–"; }
  return value.toLocaleString(undefined, { maximumFractionDigits: digits == null ? 2 : digits });
}

export function fmtPct(value) {
  return value == null || !Number.isFinite(value) ? "–" : `${(value * 100).toFixed(2)} %`;
}

export function fmtDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) { return "–"; }
  const s = Math.round(seconds);
  if (s < 120) { return `${s} s`; }
  if (s < 7200) { return `${Math.round(s / 60)} min`; }
  return `${(s / 3600).toFixed(1)} h`;
}

export function badge(status) {
  return el("span", { className: `badge ${status}`, textContent: status });
}

// Previous / next buttons and "page i of n" for a paginated list.
export function renderPager(node, page, pageSize, total, go) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const prev = el("button", { textContent: "‹ newer", disabled: page <= 1, onclick: () => go(page - 1) });
  const next = el("button", { textContent: "older ›", disabled: page >= pages, onclick: () => go(page + 1) });
  prev.className = "pager-prev";
  next.className = "pager-next";
  node.replaceChildren(prev, el("span", { className: "muted", textContent: `page ${page} of ${pages}` }), next);
}
