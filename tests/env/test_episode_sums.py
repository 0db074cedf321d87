"""The episode's sums from the per-bar record (``bot.env.stats.accumulate``) equal running sums bit for bit."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import BotConfig
from bot.data.types import Dataset
from bot.env import make_env
from bot.env.stats import DRAWDOWN_ROW, EQUITY_ROW, EXPOSURE_ROW, BarRecord, EpisodeAccumulator, accumulate
from tests.env.conftest import ConfigFactory

_bar = st.tuples(
    st.floats(-50.0, 1e6, allow_nan=False),  # equity (<= 0 only ends an episode, but the sums must not care)
    st.one_of(st.floats(-20.0, 20.0, allow_nan=False), st.just(-0.0)),  # exposure
    st.one_of(st.floats(0.0, 1.0), st.just(math.nan)),  # drawdown
)


def running_sums(start_equity: float, bars: list[tuple[float, float, float]]) -> EpisodeAccumulator:
    """The sums as the env kept them before the record: updated after every bar."""
    acc = EpisodeAccumulator()
    prev = start_equity
    for equity, exposure, drawdown in bars:
        step_return = equity / prev - 1.0 if prev > 0.0 else 0.0
        acc.n_steps += 1
        acc.sum_return += step_return
        acc.sum_return_sq += step_return * step_return
        acc.sum_abs_exposure += exposure if exposure >= 0.0 else -exposure
        acc.sum_equity += equity
        if drawdown > acc.max_drawdown:
            acc.max_drawdown = drawdown
        prev = equity
    return acc


def bits(acc: EpisodeAccumulator) -> tuple[object, ...]:
    return tuple(x.hex() if isinstance(x, float) else x for x in (
        acc.n_steps, acc.sum_return, acc.sum_return_sq, acc.sum_abs_exposure, acc.sum_equity, acc.max_drawdown
    ))  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(start=st.floats(1.0, 1e6), bars=st.lists(_bar, max_size=300))
def test_accumulate_equals_running_sums_bit_for_bit(start: float, bars: list[tuple[float, float, float]]) -> None:
    record = BarRecord(start, capacity=len(bars) + 3)
    for i, (equity, exposure, drawdown) in enumerate(bars):
        record.bars[[EQUITY_ROW, EXPOSURE_ROW, DRAWDOWN_ROW], i] = equity, exposure, drawdown
    record.n = len(bars)
    acc = EpisodeAccumulator(n_steps=7, sum_equity=3.0)  # overwritten, not added to
    accumulate(record, acc)
    assert bits(acc) == bits(running_sums(start, bars))


def test_episode_summary_of_a_real_episode_matches_running_sums(make_cfg: ConfigFactory, real_dataset: Dataset) -> None:
    cfg: BotConfig = make_cfg("env.episode_length=300")
    env = make_env(cfg, dataset=real_dataset, seed=1)
    env.reset(seed=4)
    start = env.portfolio.equity
    rng = np.random.default_rng(0)
    bars: list[tuple[float, float, float]] = []
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(int(rng.integers(3)))
        bars.append((info["equity"], info["exposure"], info["drawdown"]))
        done = terminated or truncated
    expected = running_sums(start, bars)
    assert info["episode_steps"] == expected.n_steps == 300
    assert info["max_drawdown"] == expected.max_drawdown
    assert info["exposure_mean"] == expected.sum_abs_exposure / expected.n_steps
    assert info["exposure_mean"] > 0.0


@pytest.mark.parametrize("action", [np.int64(2), np.int32(0), True, 1])
def test_the_plain_action_path_holds_the_targets_decision_controls_hold(
    make_cfg: ConfigFactory, real_dataset: Dataset, action: object
) -> None:
    """With every decision control off the step picks the target itself; it must equal ``DecisionControls``."""
    fast = make_env(make_cfg(), dataset=real_dataset, seed=1)
    general = make_env(make_cfg(), dataset=real_dataset, seed=1)
    assert fast._plain_actions
    general._plain_actions = False  # the DecisionControls.decide path
    rng = np.random.default_rng(2)
    actions = [action if i % 3 == 0 else int(rng.integers(3)) for i in range(32)]
    for env in (fast, general):
        env.reset(seed=9)
    for a in actions:
        out_fast, out_general = fast.step(a), general.step(a)
        assert out_fast[1:] == out_general[1:]
        assert (fast.controls.target, fast.controls.size) == (general.controls.target, general.controls.size)
        if out_fast[2] or out_fast[3]:
            break
    for env in (fast, general):
        env.reset(seed=9)
        with pytest.raises(ValueError, match=r"outside the action space Discrete\(3\)"):
            env.step(np.int64(3))
        with pytest.raises(ValueError, match=r"outside the action space Discrete\(3\)"):
            env.step(-1)


def test_a_deep_copy_records_its_own_bars(make_cfg: ConfigFactory, small_dataset: Dataset) -> None:
    env = make_env(make_cfg(), dataset=small_dataset, seed=1)
    env.reset(seed=0)
    env.step(2)
    twin = copy.deepcopy(env)
    for _ in range(3):
        assert env.step(0)[1:] == twin.step(0)[1:]
    assert list(env._bars.equity) == list(twin._bars.equity) and len(twin._bars.equity) == 4
