"""Same basket, two checkouts: does this tree's ``BasketPortfolio`` reproduce another tree's bar by bar, bit for bit?

Each tree runs in its own process (its own ``bot`` on ``PYTHONPATH``) over the same random configurations: perpetual
and spot, market and limit orders (re-posted or expiring), 2 to 7 assets, leverage up to 20, maintenance margins,
positive and negative funding, lot steps, minimum notionals, maximum holding, stops and take profits (one for all or
per asset), daily-style rebalances, 300 bars of random walks with gaps at the open, wicks and missing bars, random
weights and blocked assets. Every state array and scalar after every bar and every closed trade are compared.

    git worktree add --detach /tmp/before <commit>
    python benchmarks/portfolio_basket_ab.py --before /tmp/before [--configs 40]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REASONS = ("signal", "stop_loss", "take_profit", "liquidation", "max_holding")


def _config(rng: np.random.Generator) -> dict[str, Any]:
    market = "spot" if rng.random() < 0.3 else "perpetual"
    leverage = 1.0 if market == "spot" else float(rng.choice([1.0, 2.0, 3.0, 10.0, 20.0]))
    return {
        "market": market,
        "initial_cash": 10_000.0,
        "taker_fee": 0.00055,
        "maker_fee": float(rng.choice([0.0002, -0.0001])),
        "slippage_bps": float(rng.uniform(0, 5)),
        "slippage_range_frac": float(rng.uniform(0, 0.1)),
        "leverage": leverage,
        "max_leverage": max(leverage, 5.0) * 1.25,
        "maintenance_margin": float(rng.choice([0.005, 0.02, 0.05])),
        "funding_rate_8h": float(rng.choice([0.0, 0.0001, -0.0003])),
        "lot_step": float(rng.choice([1e-8, 0.001, 0.1])),
        "min_notional": float(rng.choice([0.0, 5.0, 50.0])),
        "max_holding_bars": int(rng.choice([0, 0, 3, 10])),
        "order_type": "limit" if rng.random() < 0.35 else "market",
        "limit_unfilled": str(rng.choice(["repost", "expire"])),
        "limit_offset": float(rng.choice([0.0, 0.0005, 0.002])),
    }


def _run(seed: int) -> dict[str, np.ndarray]:
    """One configuration through the ``BasketPortfolio`` importable here: state rows per bar, trades, kind."""
    from bot.config import PortfolioConfig
    from bot.portfolio.basket import BasketPortfolio

    rng = np.random.default_rng(1000 + seed)
    cfg = PortfolioConfig(**_config(rng))
    n, t = int(rng.integers(2, 8)), 300
    start = 10.0 ** rng.uniform(-1, 4.5, n)
    gap = rng.uniform(-0.04, 0.04, (t, n)) * (rng.random((t, n)) < 0.1)
    close = start * np.cumprod((1 + gap) * (1 + rng.normal(0, 0.025, (t, n))), axis=0)
    open_ = np.vstack([start, close[:-1]]) * (1 + gap)
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.03, (t, n)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.03, (t, n)))
    missing = rng.random((t, n)) < 0.05
    for a in (open_, high, low, close):
        a[missing] = np.nan
    pm = BasketPortfolio(cfg, [f"S{i}/USDT" for i in range(n)])
    pm.reset(reference_prices=open_[0])
    sl: Any = float(rng.choice([0.0, 0.01, 0.03])) if rng.random() < 0.5 else rng.choice([0.0, 0.01, 0.04], n)
    tp: Any = float(rng.choice([0.0, 0.02, 0.05])) if rng.random() < 0.5 else rng.choice([0.0, 0.02, 0.06], n)
    every = int(rng.choice([0, 0, 5]))
    cap = pm.max_gross / pm.leverage
    weights = np.zeros(n)
    rows = []
    for i in range(t):
        new = i % 3 != 2
        if new and rng.random() < 0.7:
            raw = rng.uniform(-1, 1, n) * (rng.random(n) < 0.8)
            gross = float(np.abs(raw).sum())
            weights = raw * (cap * rng.uniform(0.2, 1.0) / gross if gross > 0 else 0.0)
        tradable = rng.random(n) < 0.9
        rebalance = every > 0 and i % every == 0
        pm.process_bar(1_700_000_000_000 + i * 3_600_000, open_[i], high[i], low[i], close[i], weights, tradable, sl,
                       tp, new_decision=new, rebalance=rebalance)  # fmt: skip
        arrays = (pm.qty, pm.entry, pm.mark, pm.realized, pm.fees, pm.slippage, pm.funding, pm.traded_notional)
        scalars = (pm.equity, pm.wallet, pm.peak_equity, pm.drawdown, pm.n_trades, pm.wins, pm.losses, pm.cash)
        rows.append(np.concatenate([*arrays, pm.exposure, pm.bars_in_position, scalars, [pm.limit_fills]]))
        if pm.is_liquidated:
            break
    trades = [
        (tr.entry_time_ms, tr.exit_time_ms, tr.qty, tr.entry_price, tr.exit_price, tr.fees, tr.pnl, tr.bars_held,
         tr.side == "long", REASONS.index(tr.exit_reason))
        for log in pm.trades
        for tr in log
    ]  # fmt: skip
    return {"state": np.array(rows), "trades": np.array(trades, dtype=np.float64).reshape(-1, 10)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the other checkout (its repository root)")
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        np.savez(args.worker, **{f"{s}/{k}": v for s in range(args.configs) for k, v in _run(s).items()})
        return
    if args.before is None or not (args.before / "bot").is_dir():
        parser.error(f"--before {args.before} is not a checkout of this repository (no bot/ folder in it)")
    with tempfile.TemporaryDirectory() as folder:
        out = {}
        for name, root in (("before", args.before.resolve()), ("after", ROOT)):
            out[name] = Path(folder) / f"{name}.npz"
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                str(out[name]),
                "--configs",
                str(args.configs),
            ]
            subprocess.run(cmd, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)), check=True)
        before, after = np.load(out["before"]), np.load(out["after"])
        same = sum(np.array_equal(before[k], after[k]) for k in before.files) // 2 if before.files == after.files else 0
        trades = sum(len(after[f"{s}/trades"]) for s in range(args.configs))
        liquidated = sum(bool((after[f"{s}/trades"][:, 9] == 3).any()) for s in range(args.configs))
    print(f"{args.configs} configurations, {trades} closed trades, {liquidated} with a liquidation: {same} bit for bit")


if __name__ == "__main__":
    main()
