"""Decision controls of the env: cadence, no-trade band, minimum holding time, turnover penalty, delta actions."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from bot.config import BotConfig
from bot.data.types import Dataset
from bot.env import TradingEnv, make_env
from bot.errors import ConfigError

ConfigFactory = Callable[..., BotConfig]

#: No DBE adaptation and stops/targets too far to trigger on the test walk: the controls alone decide.
NO_STOPS = ("dbe.enabled=false", "dbe.base_stop_loss=0.9", "dbe.base_take_profit=50", "portfolio.funding_rate_8h=0")
LONG, FLAT, SHORT = 2, 1, 0


def _env(make_cfg: ConfigFactory, dataset: Dataset, *overrides: str) -> TradingEnv:
    env = make_env(make_cfg(*NO_STOPS, *overrides), split="train", dataset=dataset, seed=0)
    env.reset(options={"start_index": env.evaluation_episodes[0].start})
    return env


def test_decision_every_holds_the_target_over_n_bars(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.decision_every=4")
    row = env.current_row
    _, reward, _, _, info = env.step(LONG)
    assert env.current_row == row + 4
    assert info["bars"] == len(env.step_marks) == 4
    assert [m[0] for m in env.step_marks] == [row + 1, row + 2, row + 3, row + 4]
    positions = {m[3] for m in env.step_marks}
    assert len(positions) == 1 and positions.pop() > 0.0  # bought at the first bar, held (no drift rebalancing)
    # the reward is the sum of the per-bar log returns: the log of the step's equity ratio
    assert reward == pytest.approx(100.0 * math.log(info["equity"] / 10_000.0))


def test_a_step_is_cut_at_the_end_of_the_run(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.decision_every=7")
    run = env.evaluation_episodes[0]
    env.reset(options={"start_index": run.stop - 4})
    _, _, terminated, truncated, info = env.step(LONG)
    assert (terminated, truncated, info["bars"]) == (False, True, 3)
    assert info["episode_steps"] == 3


def test_min_holding_bars_keeps_a_young_position(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "portfolio.min_holding_bars=3")
    env.step(LONG)
    assert env.action_masks().tolist() == [False, False, True]  # flat and short would close a young long
    for _ in range(2):
        env.step(SHORT)
        assert env.portfolio.position_qty > 0.0
    env.step(SHORT)  # three bars held: the policy may reverse now
    assert env.portfolio.position_qty < 0.0


def test_rebalance_threshold_is_a_no_trade_band(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.action_type=continuous", "env.rebalance_threshold=0.25")
    env.step(np.array([0.5], np.float32))
    qty, traded = env.portfolio.position_qty, env.portfolio.traded_notional
    env.step(np.array([0.7], np.float32))  # inside the band: nothing trades
    assert (env.portfolio.position_qty, env.portfolio.traded_notional) == (qty, traded)
    env.step(np.array([0.8], np.float32))  # still measured from the held 0.5
    assert env.portfolio.position_qty > qty


def test_turnover_penalty_is_charged_per_unit_of_notional(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    plain = _env(make_cfg, small_dataset)
    penalised = _env(make_cfg, small_dataset, "env.turnover_penalty=0.01")
    for action in (LONG, LONG, SHORT, FLAT):
        equity = plain.portfolio.equity
        traded = plain.portfolio.traded_notional
        _, r_plain, *_ = plain.step(action)
        _, r_pen, *_ = penalised.step(action)
        expected = 100.0 * 0.01 * (plain.portfolio.traded_notional - traded) / equity
        assert r_plain - r_pen == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert plain.portfolio.traded_notional > 0.0


def test_delta_actions_step_through_the_levels(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.action_mode=delta", "env.exposure_levels=[-1, -0.5, 0, 0.5, 1]")
    assert env.action_space.n == 4
    hold, up, down, flat = range(4)
    env.step(up)
    assert env.portfolio.exposure == pytest.approx(0.5, rel=0.01)
    env.step(up)
    assert env.action_masks().tolist() == [True, False, True, True]  # at the top level: no step up
    env.step(up)  # masked anyway: holds
    assert env.portfolio.exposure == pytest.approx(1.0, rel=0.02)
    env.step(flat)
    assert env.portfolio.position_qty == 0.0
    env.step(down)
    env.step(hold)
    assert env.portfolio.exposure == pytest.approx(-0.5, rel=0.02)


def test_delta_on_spot_cannot_step_below_flat(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.action_mode=delta", "portfolio.market=spot")
    assert env.action_masks().tolist() == [True, True, False, True]
    env.step(2)  # down from flat on spot: holds flat
    assert env.portfolio.position_qty == 0.0


def test_a_dbe_size_change_alone_never_trades(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset)
    env.step(LONG)
    traded = env.portfolio.traded_notional
    env.dbe.size_fraction = 0.5  # as a switch to defensive mode would
    env.step(LONG)
    assert env.portfolio.traded_notional == traded
    env.step(FLAT)
    env.step(LONG)  # a new entry takes the DBE's current size
    assert env.portfolio.exposure == pytest.approx(0.5, rel=0.02)


def test_observation_references_restart_each_episode_span(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = _env(make_cfg, small_dataset, "env.episode_length=16", "portfolio.taker_fee=0.01")
    log_returns = [float(env.step(LONG)[0]["portfolio"][11]) for _ in range(16)]
    assert log_returns[14] != 0.0  # the 1 % entry fee at least
    # 16 bars = one training episode: the equity reference restarts, as a new training episode would
    assert log_returns[15] == 0.0
    assert abs(env.portfolio.equity - 10_000.0) > 1.0  # the account itself keeps its history


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.decision_every=0", "env.decision_every=0"),
        ("env.rebalance_threshold=-0.1", "env.rebalance_threshold=-0.1"),
        ("env.turnover_penalty=-1", "env.turnover_penalty=-1"),
        ("portfolio.limit_offset=0.06", "portfolio.limit_offset=0.06"),
        ("portfolio.min_holding_bars=10000", "portfolio.min_holding_bars=10000"),
        ("env.action_type=continuous", "env.action_mode='delta' needs env.action_type='discrete'"),
    ],
)
def test_bad_control_values_name_the_key(make_cfg: ConfigFactory, override: str, message: str) -> None:
    extra = ("env.action_mode=delta",) if "action_type" in override else ()
    with pytest.raises(ConfigError) as err:
        make_cfg(override, *extra)
    assert message in str(err.value)
