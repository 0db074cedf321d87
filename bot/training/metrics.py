"""Training metrics aggregated over ALL environments (never env 0 alone), written to SB3's logger / TensorBoard.

Episode summaries come from the final ``info`` of every finished episode in every worker; the DBE mode share is
counted over every step of every env in a rollout (a portfolio env counts each symbol's DBE mode, ``dbe_mode_i``, and
its account mode for ``dbe/account_mode_share_*``); the SmartLogger's suppression counters are added per rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import HParam

#: info key at episode end -> TensorBoard tag.
EPISODE_TAGS: dict[str, str] = {
    "episode_return": "env/episode_return",
    "final_equity": "env/final_equity",
    "sharpe": "env/sharpe",
    "max_drawdown": "env/max_drawdown",
    "trades": "env/trades",
    "win_rate": "env/win_rate",
    "fees_paid": "env/fees",
    "exposure_mean": "env/exposure",
    "turnover_per_day": "costs/turnover_per_day",
    "cost_drag": "costs/cost_drag",
    "cost_share_equity": "costs/cost_share_equity",
    "trades_per_day": "costs/trades_per_day",
    "avg_holding_bars": "costs/avg_holding_bars",
}
DBE_MODES = ("defensive", "neutral", "aggressive")
#: a portfolio's account drawdown modes, by ``info["account_mode"]`` (bot.dbe.AccountMode)
ACCOUNT_MODES = ("normal", "defensive", "critical")

#: returns the SmartLogger's suppression counters per reason, e.g. ``{"dedup": 12, "rotation": 40}``.
LogStats = Callable[[], Mapping[str, Any]]


def _mode_index(mode: Any) -> int | None:
    """DBE mode as 0/1/2 from an int code or a name; None when unknown."""
    if isinstance(mode, str):
        return DBE_MODES.index(mode) if mode in DBE_MODES else None
    try:
        index = int(mode)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < len(DBE_MODES) else None


class EnvMetricsCallback(BaseCallback):
    """Averages episode summaries over every env and logs DBE mode shares and log-suppression counters.

    :param log_stats: the SmartLogger listener's ``stats`` (or None): its counters go to ``logging/suppressed_*``.
    """

    def __init__(self, log_stats: LogStats | None = None) -> None:
        super().__init__()
        self.log_stats = log_stats
        self.mode_counts = np.zeros(len(DBE_MODES), np.int64)
        self.account_counts = np.zeros(len(ACCOUNT_MODES), np.int64)
        self.episodes = 0

    def _on_step(self) -> bool:
        infos: list[dict[str, Any]] = self.locals.get("infos", [])
        dones = self.locals.get("dones", np.zeros(len(infos), bool))
        for info, done in zip(infos, dones, strict=False):
            mode = _mode_index(info.get("dbe_mode"))
            if mode is not None:
                self.mode_counts[mode] += 1
            account = info.get("account_mode")
            if account is not None:
                self._count_portfolio(info, int(account))
            if done and "episode_return" in info:
                self.episodes += 1
                for key, tag in EPISODE_TAGS.items():
                    if key in info:
                        self.logger.record_mean(tag, float(info[key]))
        return True

    def _on_rollout_end(self) -> None:
        total = int(self.mode_counts.sum())
        if total:
            for name, count in zip(DBE_MODES, self.mode_counts, strict=True):
                self.logger.record_mean(f"dbe/mode_share_{name}", count / total)
        self.mode_counts[:] = 0
        total = int(self.account_counts.sum())
        if total:
            for name, count in zip(ACCOUNT_MODES, self.account_counts, strict=True):
                self.logger.record_mean(f"dbe/account_mode_share_{name}", count / total)
        self.account_counts[:] = 0
        self.logger.record("env/episodes_total", self.episodes)
        if self.log_stats is not None:
            for reason, count in self.log_stats().items():
                self.logger.record(f"logging/suppressed_{reason}", float(count))

    def _count_portfolio(self, info: dict[str, Any], account: int) -> None:
        """A portfolio env's step: its account mode and each symbol's DBE mode (``dbe_mode_0``, ``dbe_mode_1``, ...)."""
        if 0 <= account < len(ACCOUNT_MODES):
            self.account_counts[account] += 1
        i = 0
        while (mode := _mode_index(info.get(f"dbe_mode_{i}"))) is not None:
            self.mode_counts[mode] += 1
            i += 1


class HParamCallback(BaseCallback):
    """Writes the run's hyperparameters once, as TensorBoard's HParams table (SB3's ``HParam``).

    :param hparams: name -> number, string or bool.
    """

    def __init__(self, hparams: Mapping[str, Any]) -> None:
        super().__init__()
        self.hparams = dict(hparams)

    def _on_training_start(self) -> None:
        metrics: dict[str, float] = {"validation/sharpe": 0.0, "rollout/ep_rew_mean": 0.0}
        self.logger.record("hparams", HParam(self.hparams, metrics), exclude=("stdout", "log", "json", "csv"))

    def _on_step(self) -> bool:
        return True
