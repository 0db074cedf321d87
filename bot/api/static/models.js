// The model kinds (PPO, MaskablePPO, DDQN, LSTM, RF, GBM): the latest training job of each, from the `models`
// block of /api/sync/status, as one tile per kind (status, progress, headline metric; a click opens the job).
import { $, badge, el, fmtNum } from "./util.js";

export function renderModels(models) {
  const tiles = Object.entries(models || {}).map(([kind, m]) => {
    const tile = el("div", { className: "kpi model" }, [el("strong", { textContent: kind })]);
    if (!m.job_id) {
      tile.append(el("span", { className: "muted", textContent: "no job yet" }));
      return tile;
    }
    const metric = m.last_metric ? `${m.last_metric.name} ${fmtNum(m.last_metric.value, 3)}` : "";
    tile.append(badge(m.status), el("span", { className: "small", textContent: `${Math.round(m.progress * 100)} %` }),
      el("span", { className: "small muted", textContent: metric }));
    tile.title = `latest ${kind} job ${m.job_id}`;
    tile.onclick = () => { location.hash = `#/jobs/${m.job_id}`; };
    return tile;
  });
  $("models").replaceChildren(...tiles);
}
