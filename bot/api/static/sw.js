// Service worker: the dashboard shell from the cache when the server is down, the API network-first with the last
// good answer as a fallback (marked X-Served-From: offline-cache, so the page shows its "offline" marker).
const CACHE = "bot-dashboard-v4";
const SHELL = ["/dashboard", "/static/style.css", "/static/app.js", "/static/util.js", "/static/charts.js",
  "/static/jobs.js", "/static/trials.js", "/static/models.js", "/static/runs.js", "/static/paper.js", "/static/manifest.webmanifest", "/static/icon-192.png",
  "/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/uPlot.min.css",
  "/static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

async function fromCache(request) {
  const cached = await caches.match(request, { ignoreSearch: false });
  if (!cached) { return Response.error(); }
  const headers = new Headers(cached.headers);
  headers.set("X-Served-From", "offline-cache");
  return new Response(await cached.blob(), { status: cached.status, headers });
}

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.ok) { (await caches.open(CACHE)).put(request, response.clone()); }
    return response;
  } catch (err) {
    return fromCache(request);
  }
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || url.pathname === "/ws") { return; }
  if (url.pathname.startsWith("/api/") || url.pathname === "/dashboard" || url.pathname.startsWith("/static/")) {
    event.respondWith(networkFirst(event.request));
  }
});
