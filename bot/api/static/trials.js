// Trials table of a tune job: one row per trial from the job's params.trials (kept current by the job's
// "tune.trial" events), best first by the optimised metric; the metric's direction comes from the job's mode.
import { el, fmtNum } from "./util.js";

function shortKey(key) { return key.split(".").pop(); }

function paramText(params) {
  return Object.entries(params || {}).map(([k, v]) => `${shortKey(k)}=${typeof v === "number" ? fmtNum(v, 4) : v}`).join(", ");
}

export function trialsTable(job) {
  const rows = Object.values(job.params.trials || {});
  const sign = job.params.mode === "min" ? 1 : -1;
  const score = (t) => (t.best == null ? Infinity : sign * t.best);
  rows.sort((a, b) => score(a) - score(b) || a.trial_id.localeCompare(b.trial_id));
  const metric = job.params.metric || "metric";
  const head = el("tr", {}, ["trial", "status", "step", metric, `best ${metric}`, "params"].map((t) => el("th", { textContent: t })));
  const body = rows.map((t) => {
    const row = el("tr", { title: t.error || "" }, [
      el("td", { textContent: t.trial_id }), el("td", { textContent: t.status }),
      el("td", { textContent: t.step.toLocaleString() }), el("td", { textContent: fmtNum(t.metric, 4) }),
      el("td", { textContent: fmtNum(t.best, 4) }), el("td", { className: "small", textContent: paramText(t.params) }),
    ]);
    row.dataset.trialId = t.trial_id;
    row.dataset.status = t.status;
    return row;
  });
  const empty = rows.length ? [] : [el("tr", {}, [el("td", { className: "muted", colSpan: 6, textContent: "no trial has started yet" })])];
  return el("div", { className: "table-wrap" }, [
    el("h3", { textContent: `Trials (${rows.length} of ${job.params.num_samples} sampled, ${job.params.scheduler})` }),
    el("table", { id: "d-trials" }, [el("thead", {}, [head]), el("tbody", {}, [...body, ...empty])]),
  ]);
}
