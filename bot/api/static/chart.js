// Tiny dependency-free line chart on a <canvas>: drawLineChart(canvas, [[x, y], ...], options).
"use strict";

function drawLineChart(canvas, points, options) {
  const opts = Object.assign({ color: "#2f6fde", empty: "no data yet" }, options || {});
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = { l: 48, r: 8, t: 8, b: 18 };
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#6b7383";
  const finite = points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  if (finite.length === 0) {
    ctx.fillText(opts.empty, pad.l, h / 2);
    return;
  }
  let [xMin, xMax] = [Math.min(...finite.map((p) => p[0])), Math.max(...finite.map((p) => p[0]))];
  let [yMin, yMax] = [Math.min(...finite.map((p) => p[1])), Math.max(...finite.map((p) => p[1]))];
  if (xMax === xMin) { xMax = xMin + 1; }
  if (yMax === yMin) { yMax = yMin + Math.max(1e-9, Math.abs(yMin) * 0.01 || 1); }
  const sx = (x) => pad.l + ((x - xMin) / (xMax - xMin)) * (w - pad.l - pad.r);
  const sy = (y) => h - pad.b - ((y - yMin) / (yMax - yMin)) * (h - pad.t - pad.b);
  ctx.strokeStyle = "#d5d9e0";
  ctx.beginPath();
  ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, h - pad.b); ctx.lineTo(w - pad.r, h - pad.b);
  ctx.stroke();
  const fmt = (v) => (Math.abs(v) >= 1e7 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2)
    : String(Number(v.toPrecision(6))));
  ctx.fillText(fmt(yMax), 2, pad.t + 8);
  ctx.fillText(fmt(yMin), 2, h - pad.b);
  ctx.fillText(String(Math.round(xMax)), w - pad.r - 40, h - 4);
  ctx.strokeStyle = opts.color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  finite.forEach((p, i) => (i === 0 ? ctx.moveTo(sx(p[0]), sy(p[1])) : ctx.lineTo(sx(p[0]), sy(p[1]))));
  ctx.stroke();
  if (finite.length === 1) {
    ctx.fillStyle = opts.color;
    ctx.fillRect(sx(finite[0][0]) - 2, sy(finite[0][1]) - 2, 4, 4);
  }
}
