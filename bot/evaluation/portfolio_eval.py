"""Evaluation of ``env.mode: portfolio``: the policy's run over a split, per-asset attribution, and baselines on the
same bars, through the same :class:`~bot.portfolio.basket.BasketPortfolio` and costs.

Baselines (weights decided at a bar's close, executed at the next open, like the agent's):

- ``buy_and_hold:<symbol>``: the whole book in one symbol, bought once (when it can first be traded) and held;
- ``equal_weight_buy_and_hold``: 1/N in every symbol, bought once and left to drift;
- ``equal_weight_daily``: 1/N, traded back to 1/N at the first bar of every UTC day;
- ``inverse_volatility_daily``: weights proportional to 1 / (standard deviation of the symbol's bar log returns over
  the trailing ``vol_days`` days, known at the decision close), normalised to a gross of 1, rebalanced daily.

Each run reports the portfolio metrics of :mod:`bot.portfolio.metrics` and its per-asset attribution (net PnL per
symbol: realised + unrealised - fees - funding), which sums to the run's PnL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from stable_baselines3.common.base_class import BaseAlgorithm

from bot.atomic import atomic_write_bytes
from bot.config import BotConfig
from bot.env import PortfolioEnv
from bot.env.portfolio_env import Obs
from bot.errors import ConfigError
from bot.portfolio import (
    DAY_MS,
    YEAR_MS,
    BasketPortfolio,
    cagr,
    drawdown_series,
    sharpe_ratio,
    simple_returns,
    sortino_ratio,
)
from bot.training import model_actor, portfolio_rollout

#: Trailing days of returns behind the inverse-volatility weights.
VOL_DAYS = 30


@dataclass(frozen=True, slots=True)
class PortfolioRun:
    """One strategy over the evaluation bars.

    :param name: ``policy`` or the baseline's name.
    :param symbols: the basket's symbols.
    :param equity: float [n + 1] equity before the first bar, then after each bar.
    :param exposure: float [n, N] each symbol's signed exposure (notional / equity) after each bar.
    :param attribution: float [N] net PnL per symbol; sums to ``equity[-1] - equity[0]``.
    :param trades: int [N] closed trades per symbol.
    :param fees: fees paid (quote); ``funding`` and ``slippage`` likewise.
    :param metrics: ``total_return``, ``sharpe``, ``sortino``, ``max_drawdown``, ``cagr``, ``fees``, ``trades``.
    """

    name: str
    symbols: tuple[str, ...]
    equity: npt.NDArray[np.float64]
    exposure: npt.NDArray[np.float64]
    attribution: npt.NDArray[np.float64]
    trades: npt.NDArray[np.int64]
    fees: float
    funding: float
    slippage: float
    metrics: dict[str, float]

    @property
    def pnl(self) -> float:
        """Final minus initial equity (quote)."""
        return float(self.equity[-1] - self.equity[0])

    @property
    def mean_abs_weight(self) -> npt.NDArray[np.float64]:
        """float [N] mean |exposure| per symbol over the bars (where the book was)."""
        return np.abs(self.exposure).mean(axis=0) if self.exposure.size else np.zeros(len(self.symbols))


def _finish(
    name: str, pm: BasketPortfolio, equity: list[float], exposure: list[npt.NDArray[np.float64]], base_ms: int
) -> PortfolioRun:
    eq = np.asarray(equity, dtype=np.float64)
    periods = YEAR_MS / base_ms
    returns = simple_returns(eq) if eq.size > 1 else np.zeros(0)
    metrics = {
        "total_return": float(eq[-1] / eq[0] - 1.0),
        "sharpe": sharpe_ratio(returns, periods),
        "sortino": sortino_ratio(returns, periods),
        "max_drawdown": float(drawdown_series(eq).max()),
        "cagr": cagr(eq, periods),
        "fees": pm.fees_paid,
        "trades": float(pm.n_trades),
    }
    return PortfolioRun(
        name=name,
        symbols=pm.symbols,
        equity=eq,
        exposure=np.array(exposure, dtype=np.float64).reshape(-1, pm.n),
        attribution=pm.attribution.copy(),
        trades=np.array([len(t) for t in pm.trades], dtype=np.int64),
        fees=pm.fees_paid,
        funding=pm.funding_paid,
        slippage=pm.slippage_paid,
        metrics=metrics,
    )


def run_policy(env: PortfolioEnv, act: Callable[[Obs], Any], name: str = "policy") -> PortfolioRun:
    """Run ``act`` over the env's whole split (one episode from its first decision bar to its end) through the
    training layer's :func:`~bot.training.portfolio.portfolio_rollout`.

    :param env: a portfolio env; its episode is reset here.
    :param act: observation -> action (e.g. ``model_actor(model, vecnormalize)``).
    :return: the run, one equity mark per bar.
    """
    marks = portfolio_rollout(env, act)
    return _finish(name, env.portfolio, list(marks.equity), list(marks.exposure), env.universe.base_ms)


def _simulate(
    env: PortfolioEnv, name: str, weights_at: Callable[[int], npt.NDArray[np.float64]], daily: bool
) -> PortfolioRun:
    """Drive a fresh account over the env's bars with ``weights_at(t)`` decided at bar t's close."""
    rows = env.rows
    first, stop = env.decision_span
    pm = BasketPortfolio(env.cfg.portfolio, env.symbols, env.portfolio.rules)
    pm.reset(reference_prices=rows.mark[first])
    equity = [pm.equity]
    exposure: list[npt.NDArray[np.float64]] = []
    day = int(rows.time_ms[first]) // DAY_MS
    for t in range(first, stop - 1):
        next_day = int(rows.time_ms[t + 1]) // DAY_MS
        rebalance = daily and next_day != day
        day = next_day
        pm.process_bar(
            int(rows.time_ms[t + 1]),
            rows.open[t + 1],
            rows.high[t + 1],
            rows.low[t + 1],
            rows.close[t + 1],
            weights_at(t),
            rows.observable[t],
            rebalance=rebalance,
        )
        equity.append(pm.equity)
        exposure.append(pm.exposure.copy())
    return _finish(name, pm, equity, exposure, env.universe.base_ms)


def inverse_volatility_weights(close: npt.NDArray[np.float64], t: int, window: int) -> npt.NDArray[np.float64]:
    """float [N] weights ∝ 1 / std of each symbol's bar log returns over the ``window`` bars up to ``t`` (closes at or
    before t only), normalised to sum 1; equal weights while a symbol has fewer than two returns there."""
    past = close[max(0, t - window) : t + 1]
    returns = np.diff(np.log(past), axis=0)
    counts = np.sum(~np.isnan(returns), axis=0)
    n = close.shape[1]
    if returns.shape[0] < 2 or (counts < 2).any():
        return np.full(n, 1.0 / n)
    vol = np.nanstd(returns, axis=0, ddof=1)
    inverse = np.where(vol > 0.0, 1.0 / np.where(vol > 0.0, vol, 1.0), 0.0)
    total = float(inverse.sum())
    return inverse / total if total > 0.0 else np.full(n, 1.0 / n)


def _constant(weights: npt.NDArray[np.float64]) -> Callable[[int], npt.NDArray[np.float64]]:
    return lambda _t: weights


def portfolio_baselines(env: PortfolioEnv, vol_days: int = VOL_DAYS) -> list[PortfolioRun]:
    """Every baseline of the module docstring over the env's evaluation bars (see :func:`run_policy`)."""
    n = env.n_assets
    equal = np.full(n, 1.0 / n)
    runs = []
    for i, symbol in enumerate(env.symbols):
        one = np.zeros(n)
        one[i] = 1.0
        runs.append(_simulate(env, f"buy_and_hold:{symbol}", _constant(one), daily=False))
    runs.append(_simulate(env, "equal_weight_buy_and_hold", _constant(equal), daily=False))
    runs.append(_simulate(env, "equal_weight_daily", _constant(equal), daily=True))
    window = max(2, vol_days * DAY_MS // env.universe.base_ms)
    close = env.rows.close
    cache: dict[int, npt.NDArray[np.float64]] = {}

    def inverse_vol(t: int) -> npt.NDArray[np.float64]:
        # recomputed once a day: the weights only reach the account at the daily rebalance
        day = int(env.rows.time_ms[t]) // DAY_MS
        if day not in cache:
            cache.clear()
            cache[day] = inverse_volatility_weights(close, t, window)
        return cache[day]

    runs.append(_simulate(env, "inverse_volatility_daily", inverse_vol, daily=True))
    return runs


def attribution_table(runs: list[PortfolioRun]) -> str:
    """Markdown: one row per run with its metrics, its PnL and each symbol's share of it."""
    symbols = runs[0].symbols if runs else ()
    head = ["run", "return", "sharpe", "max DD", "fees", "trades", *(f"PnL {s}" for s in symbols), "PnL"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        m = run.metrics
        cells = [
            run.name,
            f"{m['total_return']:+.2%}",
            f"{m['sharpe']:.2f}",
            f"{m['max_drawdown']:.2%}",
            f"{run.fees:,.2f}",
            f"{int(m['trades'])}",
            *(f"{x:+,.2f}" for x in run.attribution),
            f"{run.pnl:+,.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dbe_table(summary: dict[str, Any]) -> str:
    """Markdown: the policy's share of bars in each account mode, then each symbol's share in each DBE mode (the
    :meth:`~bot.env.portfolio_dbe.BasketDBE.summary` of its run)."""
    account = summary["account_mode_share"]
    lines = [
        "Policy DBE: account mode " + ", ".join(f"{name} {share:.1%}" for name, share in account.items()),
        "",
        "| symbol | defensive | neutral | aggressive |",
        "|---|---|---|---|",
    ]
    for symbol, state in summary["assets"].items():
        share = state["mode_share"]
        lines.append(f"| {symbol} | {share['defensive']:.1%} | {share['neutral']:.1%} | {share['aggressive']:.1%} |")
    return "\n".join(lines)


def evaluate_portfolio_run(
    cfg: BotConfig, checkpoint: str, which: str, folder: Path, split: str, out_dir: Path, fees_off: bool
) -> int:
    """``bot evaluate`` of a portfolio run: the policy and the baselines over ``split``, with per-asset attribution.

    Writes ``portfolio.json`` (each run's metrics, attribution and mean |weight| per symbol; ``dbe``: the policy's DBE
    mode shares with ``dbe.enabled``, else null) and ``portfolio.md`` (the :func:`attribution_table` and the
    :func:`dbe_table`) into ``out_dir`` and prints them.

    :param cfg: the checkpoint's config plus overrides.
    :param checkpoint: the run folder (``bot evaluate``'s argument).
    :param which: ``latest``, ``best`` or a step, as ``--which``.
    :param folder: that checkpoint's folder (its ``scalers.json`` is read).
    :param fees_off: zero fees and slippage (funding is kept).
    :return: 0.
    :raises SchemaMismatchError: when the data's symbols or features differ from the model's.
    """
    from bot.data import SymbolScalers, build_universe  # heavy imports after the arguments are checked
    from bot.evaluation.backtest import evaluation_config
    from bot.training import load_checkpoint

    universe = build_universe(cfg, SymbolScalers.load(folder))
    loaded = load_checkpoint(checkpoint, which, schema_hash=universe.schema_hash)
    if not isinstance(loaded.model, BaseAlgorithm):
        raise ConfigError(f"{checkpoint}: a {type(loaded.model).__name__} cannot drive env.mode=portfolio")
    env = PortfolioEnv(evaluation_config(cfg, zero_costs=fees_off), universe, split, worker_id=-1)
    runs = [run_policy(env, model_actor(loaded.model, loaded.vecnormalize, env))]
    # the policy's DBE (dbe.enabled): share of its bars in each account mode and, per symbol, in each DBE mode
    dbe = env.dbe.summary() if env.dbe is not None else None
    runs += portfolio_baselines(env)
    table = attribution_table(runs) + (f"\n\n{dbe_table(dbe)}" if dbe is not None else "")
    label = f"{Path(checkpoint).name} ({which}, step {loaded.manifest.get('timesteps', '?')}), split {split}"
    payload = {
        "label": label,
        "symbols": list(universe.symbols),
        "runs": [
            {
                "name": r.name,
                "metrics": r.metrics,
                "pnl": r.pnl,
                "attribution": dict(zip(r.symbols, r.attribution.tolist(), strict=True)),
                "mean_abs_weight": dict(zip(r.symbols, r.mean_abs_weight.tolist(), strict=True)),
            }
            for r in runs
        ],
        "dbe": dbe,
    }
    atomic_write_bytes(out_dir / "portfolio.json", json.dumps(payload, indent=1).encode("utf-8"))
    atomic_write_bytes(out_dir / "portfolio.md", f"# Portfolio evaluation: {label}\n\n{table}\n".encode())
    print(f"{label}\n\n{table}\n\nPortfolio report: {out_dir / 'portfolio.md'}")
    return 0
