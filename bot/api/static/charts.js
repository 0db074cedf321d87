// Metric charts on uPlot (vendored): a step axis, hover values in the legend, drag to zoom, double-click to reset.
const COLORS = ["#2f6fde", "#d64545", "#1f9d55", "#d99a00", "#8e44ad", "#16a2b8", "#6b7383"];
const charts = new Map();

function width(node) { return Math.max(240, node.clientWidth || 600); }

// x: numbers (timesteps); series: [{label, values}] aligned with x (null = gap).
export function lineChart(node, x, series, opts) {
  const options = {
    width: width(node),
    height: (opts && opts.height) || 220,
    scales: { x: { time: false } },
    axes: [{ label: (opts && opts.xLabel) || "timesteps", size: 40 }, { size: 60 }],
    cursor: { drag: { x: true, y: false } },
    series: [{ label: (opts && opts.xLabel) || "step" }, ...series.map((s, i) => ({
      label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false,
      points: { show: x.length < 60 },
    }))],
  };
  destroyChart(node);
  node.replaceChildren();
  const plot = new uPlot(options, [x, ...series.map((s) => s.values)], node);
  node.dataset.points = String(x.length);
  charts.set(node, plot);
  return plot;
}

export function destroyChart(node) {
  const old = charts.get(node);
  if (old) { old.destroy(); charts.delete(node); }
}

// Charts follow their container's width (phone rotation, side panel).
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const plot = charts.get(entry.target);
    if (plot) { plot.setSize({ width: width(entry.target), height: plot.height }); }
  }
});

export function watchSize(node) { resizer.observe(node); }
