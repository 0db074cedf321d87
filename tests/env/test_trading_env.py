"""TradingEnv on real candles: API checkers, step timing (fill at the next open), gaps, seeds, info, termination."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from bot.config import BotConfig
from bot.data.types import Dataset
from bot.env import PORTFOLIO_FEATURES, PortfolioObservation, TradingEnv, make_env
from bot.env.rewards import MIN_EQUITY_RATIO
from bot.errors import ConfigError
from bot.portfolio import CostModel

ConfigFactory = Callable[..., BotConfig]

#: Warnings the checkers give by design: a 2-D ``market`` observation (DESIGN.md) and an env made without gym.make.
_EXPECTED_WARNINGS = ("unconventional shape", "not having a spec")
#: The real exchange outage of 2023-03-24: the last 5m bar before it opens 12:35 UTC, the first after it 14:00 UTC.
LAST_BEFORE_GAP_MS = 1_679_661_300_000
FIRST_AFTER_GAP_MS = 1_679_666_400_000


def _run_checkers(env: TradingEnv) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env, warn=True)
    unexpected = [str(w.message) for w in caught if not any(k in str(w.message) for k in _EXPECTED_WARNINGS)]
    assert not unexpected


@pytest.mark.parametrize("market", ["spot", "perpetual"])
@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
def test_gymnasium_and_sb3_checkers_pass(
    make_cfg: ConfigFactory, real_dataset: Dataset, market: str, action_type: str
) -> None:
    cfg = make_cfg(f"portfolio.market={market}", f"env.action_type={action_type}", "env.window=16")
    _run_checkers(make_env(cfg, dataset=real_dataset, seed=0))


def test_first_observation_and_info(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    env = make_env(make_cfg(), dataset=real_dataset)
    start = env.evaluation_episodes[0].start
    obs, info = env.reset(options={"start_index": start})
    np.testing.assert_array_equal(obs["market"], real_dataset.obs_features[start - 7 : start + 1])
    assert obs["portfolio"].shape == (len(PORTFOLIO_FEATURES),) == (len(env.portfolio_feature_names),)
    portfolio = dict(zip(PORTFOLIO_FEATURES, obs["portfolio"].tolist(), strict=True))
    assert portfolio["exposure"] == 0.0 and portfolio["cash_frac"] == 1.0 and portfolio["drawdown"] == 0.0
    assert portfolio["dbe_defensive"] + portfolio["dbe_neutral"] + portfolio["dbe_aggressive"] == 1.0
    assert info["time_ms"] == int(real_dataset.market.open_time_ms[start]) and info["equity"] == 10_000.0


def test_orders_fill_at_the_next_open_with_slippage(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    cfg = make_cfg()
    env = make_env(cfg, dataset=real_dataset)
    m = real_dataset.market
    s = env.evaluation_episodes[0].start + 100
    env.reset(options={"start_index": s})
    obs, _, _, _, info = env.step(2)  # long at the close of s -> fills at the open of s + 1
    assert info["time_ms"] == int(m.open_time_ms[s + 1]) and info["price"] == float(m.close[s + 1])
    np.testing.assert_array_equal(obs["market"][-1], real_dataset.obs_features[s + 1])
    assert info["position"] > 0.0 and env.current_row == s + 1
    env.step(1)  # flat at the close of s + 1 -> sells at the open of s + 2
    (trade,) = env.portfolio.trades
    costs = CostModel(cfg.portfolio)
    o1, o2 = float(m.open[s + 1]), float(m.open[s + 2])
    assert trade.entry_price == pytest.approx(o1 + costs.slippage(o1, float(m.high[s + 1]), float(m.low[s + 1])))
    assert trade.exit_price == pytest.approx(o2 - costs.slippage(o2, float(m.high[s + 2]), float(m.low[s + 2])))
    assert trade.entry_time_ms == int(m.open_time_ms[s + 1]) and trade.exit_reason == "signal"


def test_random_episodes_never_cross_the_gap(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    env = make_env(make_cfg("env.episode_length=2048", "env.window=32"), dataset=real_dataset, seed=1)
    m = real_dataset.market
    gap_row = int(np.searchsorted(m.open_time_ms, FIRST_AFTER_GAP_MS))
    assert m.segment_id[gap_row] != m.segment_id[gap_row - 1]
    for _ in range(300):
        env.reset()
        rows = slice(env.episode.start - 31, env.episode.stop)
        assert len(set(m.segment_id[rows].tolist())) == 1 and m.valid[rows].all()
        assert env.episode.stop <= real_dataset.splits["train"].stop


def test_evaluation_episode_ends_at_the_gap_and_the_next_starts_after(
    make_cfg: ConfigFactory, real_dataset: Dataset
) -> None:
    env = make_env(make_cfg("env.random_start=false"), dataset=real_dataset)
    first, second = env.evaluation_episodes
    env.reset()
    assert env.episode == first
    env.reset(options={"start_index": first.stop - 4})
    for _ in range(3):
        _, _, terminated, truncated, info = env.step(1)
    assert truncated and not terminated
    assert info["time_ms"] == LAST_BEFORE_GAP_MS
    _, info = env.reset()
    assert env.episode == second and info["time_ms"] > FIRST_AFTER_GAP_MS
    env.reset()
    assert env.episode == first  # the runs repeat in a cycle
    env.reset(seed=3)
    assert env.episode == first  # a seed restarts the order


def test_same_seed_same_episodes(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    def rollout(env: TradingEnv, seed: int | None) -> list[tuple[int, float, dict[str, object]]]:
        out = []
        env.reset(seed=seed)
        for a in np.random.default_rng(0).integers(0, 3, 60).tolist():
            _obs, reward, terminated, truncated, info = env.step(a)
            out.append((env.current_row, reward, info))
            if terminated or truncated:
                env.reset()
        return out

    cfg = make_cfg()
    assert rollout(make_env(cfg, dataset=small_dataset), 7) == rollout(make_env(cfg, dataset=small_dataset), 7)
    seeded = [make_env(cfg, dataset=small_dataset, seed=11) for _ in range(2)]
    assert rollout(seeded[0], None) == rollout(seeded[1], None)
    starts = set()
    for seed in range(20):
        make = make_env(cfg, dataset=small_dataset)
        make.reset(seed=seed)
        starts.add(make.episode.start)
    assert len(starts) > 1


def test_info_holds_plain_python_scalars(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = make_env(make_cfg(), dataset=small_dataset, worker_id=3, seed=0)
    _, info = env.reset()
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert type(reward) is float
        assert all(type(v) in (int, float, bool) for v in info.values()), info
        done = terminated or truncated
    summary = {"episode_return", "final_equity", "sharpe", "max_drawdown", "win_rate", "exposure_mean", "trades"}
    assert summary <= set(info) and info["worker_id"] == 3
    assert info["episode_steps"] == env.episode.n_steps == 32
    assert 0.0 <= info["win_rate"] <= 1.0 and 0.0 <= info["exposure_mean"] <= 1.0


def test_step_after_the_end_and_bad_arguments(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = make_env(make_cfg(), dataset=small_dataset)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"outside the action space Discrete\(3\)"):
        env.step(5)
    with pytest.raises(ValueError, match=r"action array\(\[1, 2\]\) must be one integer in \[0, 3\)"):
        env.step(np.array([1, 2]))
    with pytest.raises(ValueError, match=r"reset options \['start'\] are unknown"):
        env.reset(options={"start": 3})
    with pytest.raises(ValueError, match="end_index=100 needs a start_index"):
        env.reset(options={"end_index": 100})
    with pytest.raises(ValueError, match="start_index=2 is not a decision row of split 'train'"):
        env.reset(options={"start_index": 2})
    with pytest.raises(ConfigError, match="split='holdout' is not a split of the dataset; choose one of: train"):
        make_env(make_cfg(), dataset=small_dataset, split="holdout")


def test_spot_masks_short_levels_and_works_with_maskable_ppo(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks

    env = make_env(make_cfg("portfolio.market=spot", "env.exposure_levels=[-1,0,1]"), dataset=small_dataset, seed=0)
    assert env.action_masks().tolist() == [False, True, True]
    env.reset(seed=0)
    _, _, _, _, info = env.step(0)  # the masked short executes as flat
    assert info["position"] == 0.0
    model = MaskablePPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    assert get_action_masks(model.get_env()).tolist() == [[False, True, True]]


@pytest.mark.parametrize(("algo", "action_type"), [("dqn", "discrete"), ("ppo", "continuous")])
def test_sb3_algorithms_train_on_the_env(
    make_cfg: ConfigFactory, small_dataset: Dataset, algo: str, action_type: str
) -> None:
    from stable_baselines3 import DQN, PPO

    env = make_env(make_cfg(f"env.action_type={action_type}"), dataset=small_dataset, seed=0)
    if algo == "dqn":
        model: DQN | PPO = DQN("MultiInputPolicy", env, learning_starts=16, buffer_size=200, seed=0, device="cpu")
    else:
        model = PPO("MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)


def test_portfolio_observation_follows_the_account(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    cfg = make_cfg()
    env = make_env(cfg, dataset=real_dataset)
    env.reset(options={"start_index": env.evaluation_episodes[0].start + 200})
    for _ in range(3):
        obs, _, _, _, _ = env.step(0)  # short, held
    pm, dbe = env.portfolio, env.dbe
    got = dict(zip(PORTFOLIO_FEATURES, obs["portfolio"].tolist(), strict=True))
    expected = {
        "exposure": pm.exposure,
        "unrealized_pnl_frac": pm.unrealized_pnl / pm.equity,
        "cash_frac": pm.cash / pm.equity,
        "time_in_position": pm.bars_in_position / cfg.env.episode_length,
        "drawdown": pm.drawdown,
        "dbe_stop_loss": dbe.stop_loss_pct / cfg.dbe.stop_loss.high,
        "dbe_take_profit": dbe.take_profit_pct / cfg.dbe.take_profit.high,
        "dbe_size": dbe.size_fraction,
        "equity_log_return": float(np.log(pm.equity / cfg.portfolio.initial_cash)),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name
    assert got["exposure"] < 0.0 and pm.bars_in_position == 3
    assert [got["dbe_defensive"], got["dbe_neutral"], got["dbe_aggressive"]] == [float(i == dbe.mode) for i in range(3)]


def test_live_portfolio_vector_equals_the_env_observation(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    # the live trader builds its vector with PortfolioObservation.vector; the env calls the compiled fill directly
    cfg = make_cfg()
    env = make_env(cfg, dataset=real_dataset, seed=0)
    env.reset()
    vector = PortfolioObservation(cfg).vector
    for action in [2, 2, 0, 1, 0, 0, 2, 1] * 3:
        obs, _, _, _, _ = env.step(action)
        pm, dbe = env.portfolio, env.dbe
        expected = vector(
            equity=pm.equity,
            initial_equity=env.obs_refs.reference,
            unrealized_pnl=pm.unrealized_pnl,
            cash=pm.cash,
            exposure=pm.exposure,
            bars_in_position=pm.bars_in_position,
            drawdown=env.obs_refs.drawdown(pm.equity),
            dbe_mode=int(dbe.mode),
            stop_loss_pct=dbe.stop_loss_pct,
            take_profit_pct=dbe.take_profit_pct,
            size_fraction=dbe.size_fraction,
        )
        assert expected.dtype == np.float32 and expected.tobytes() == obs["portfolio"].tobytes()


def test_portfolio_vector_clips_and_handles_a_bankrupt_account(make_cfg: ConfigFactory) -> None:
    vector = PortfolioObservation(make_cfg()).vector
    common = {"bars_in_position": 10**6, "drawdown": 1.0, "dbe_mode": 0, "stop_loss_pct": 0.0}
    common |= {"take_profit_pct": 0.0, "size_fraction": 0.0}
    out = vector(equity=1.0, initial_equity=1e-9, unrealized_pnl=-50.0, cash=float("nan"), exposure=50.0, **common)
    # exposure, uPnL / equity and log(equity / initial) clip at +-10; a NaN takes the bound; held time caps at 1
    assert out.tolist()[:5] == [10.0, -10.0, 10.0, 1.0, 1.0] and out[11] == 10.0
    broke = vector(equity=0.0, initial_equity=1.0, unrealized_pnl=-5.0, cash=-5.0, exposure=-3.0, **common)
    assert broke[1] == broke[2] == 0.0 and broke[11] == np.float32(np.log(MIN_EQUITY_RATIO))
    assert broke[0] == -3.0 and broke[5:8].tolist() == [1.0, 0.0, 0.0]
