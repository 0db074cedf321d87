"""The NumPy LSTM path of a recurrent policy (:mod:`bot.training.fast_lstm`) against the torch step it replaces: the
same action and, within :data:`~bot.training.fast_lstm.STATE_TOLERANCE`, the same LSTM state at every decision of a
real evaluation (real BTC/USDT candles around the 2023-03-24 exchange outage, so the split holds two gap-free runs and
the state is reset at the gap), near-tied decisions handed to the torch step, and the reasons for the torch path."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch as th
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from bot.config import BotConfig, load_config
from bot.data import Dataset, build_dataset
from bot.env import make_env
from bot.training.algorithms import build_model
from bot.training.fast_lstm import STATE_TOLERANCE, FastLstmPolicy
from bot.training.policy import Obs, PredictPolicy, make_policy
from bot.training.rollout import run_episode
from bot.training.validation import make_validation_env


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny nets: torch's intra-op threads only contend with each other on a loaded machine (30x slower here)."""
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


SMALL = ["training.recurrent.lstm_hidden_size=16", "training.ppo.net_arch=[16, 16]", "training.ppo.n_steps=64"]


def _setup(btc_5m_path: Path, *overrides: str) -> tuple[BotConfig, Dataset]:
    # 5m features only (short warm-up): the train split then holds the bars before and after the outage
    cfg = load_config(
        None,
        [
            "data.source=file",
            f"data.path={btc_5m_path}",
            "data.start=2023-03-23",
            "data.end=2023-03-26",
            "data.timeframes=[5m]",
            "env.window=8",
            "env.decision_every=1",
            "training.algo=recurrent_ppo",
            *SMALL,
            *overrides,
        ],
    )
    return cfg, build_dataset(cfg)


def _model(cfg: BotConfig, dataset: Dataset) -> RecurrentPPO:
    """A RecurrentPPO after a few updates, its output layer redrawn at unit scale (SB3 initialises it at 0.01, which
    leaves an untrained policy choosing one action almost everywhere)."""
    venv = DummyVecEnv([lambda: make_env(cfg, "train", seed=0, dataset=dataset)])
    model = build_model(cfg.training, venv, seed=0, device="cpu", tensorboard_log=None)
    assert isinstance(model, RecurrentPPO)
    model.learn(64)
    with th.no_grad():
        output = _output_layer(model)
        th.nn.init.normal_(output.weight, std=output.in_features**-0.5)
    return model


def _output_layer(model: RecurrentPPO) -> th.nn.Linear:
    layer = cast(RecurrentActorCriticPolicy, model.policy).action_net
    assert isinstance(layer, th.nn.Linear)
    return layer


class _Lockstep:
    """Steps the fast policy and the torch step side by side (the env follows the torch step's action) and records
    the actions and the largest hidden- and cell-state differences."""

    def __init__(self, fast: FastLstmPolicy, torch_step: PredictPolicy) -> None:
        self.fast, self.torch_step = fast, torch_step
        self.actions: list[tuple[int, int]] = []
        self.h_diff = self.c_diff = 0.0
        self.resets = 0

    def reset(self) -> None:
        self.fast.reset()
        self.torch_step.reset()
        self.resets += 1
        assert not np.any(self.fast.state[0]) and not np.any(self.fast.state[1])

    def act(self, obs: Obs, row: int) -> Any:
        ours, theirs = int(self.fast.act(obs, row)), int(self.torch_step.act(obs, row))
        self.actions.append((ours, theirs))
        assert self.torch_step.state is not None
        h, c = self.fast.state
        h_torch, c_torch = (s.numpy()[:, 0, :] for s in self.torch_step.state)
        self.h_diff = max(self.h_diff, float(np.abs(h - h_torch).max()))
        self.c_diff = max(self.c_diff, float(np.abs(c - c_torch).max()))
        return theirs


def _lockstep(cfg: BotConfig, dataset: Dataset, model: RecurrentPPO, vecnormalize: VecNormalize | None) -> _Lockstep:
    env = make_validation_env(cfg, dataset, "train")
    episodes = env.unwrapped.evaluation_episodes  # type: ignore[attr-defined]
    assert len(episodes) == 2  # the outage splits the split: the state is reset at the gap
    rows = range(episodes[0].start, episodes[-1].stop)
    fast = make_policy(model, vecnormalize, dataset.obs_features, cfg.env.window, rows, None)
    torch_step = make_policy(model, vecnormalize, dataset.obs_features, cfg.env.window, rows, None, fast=False)
    assert isinstance(fast, FastLstmPolicy) and isinstance(torch_step, PredictPolicy)
    run = _Lockstep(fast, torch_step)
    for episode in episodes:
        run_episode(env, run, episode)
    assert run.resets == 2 and len(run.actions) == sum(e.n_steps for e in episodes)
    return run


def _vecnormalize(cfg: BotConfig, dataset: Dataset) -> VecNormalize:
    """Training statistics that move every input: the market's from the data, the portfolio's made up."""
    venv = DummyVecEnv([lambda: make_env(cfg, "train", seed=0, dataset=dataset)])
    vecnormalize = VecNormalize(venv, norm_reward=False, clip_obs=3.0)
    rng = np.random.default_rng(0)
    for rms in vecnormalize.obs_rms.values():
        rms.mean = rng.normal(0.0, 0.5, rms.mean.shape)
        rms.var = rng.uniform(0.2, 3.0, rms.var.shape)
    return vecnormalize


@pytest.mark.parametrize(
    ("overrides", "normalised"),
    [
        (["training.recurrent.n_lstm_layers=2"], True),
        (["training.extractor.kind=cnn1d", "training.extractor.kernel_size=3"], False),
    ],
    ids=["flatten-2-layers-vecnormalize", "cnn1d"],
)
def test_same_actions_and_states_as_the_torch_step_on_real_candles(
    btc_5m_path: Path, overrides: list[str], normalised: bool
) -> None:
    cfg, dataset = _setup(btc_5m_path, *overrides)
    model = _model(cfg, dataset)
    run = _lockstep(cfg, dataset, model, _vecnormalize(cfg, dataset) if normalised else None)
    assert all(ours == theirs for ours, theirs in run.actions)
    assert len({theirs for _, theirs in run.actions}) > 1  # not a constant policy
    assert run.h_diff < STATE_TOLERANCE and run.c_diff < 10 * STATE_TOLERANCE
    assert run.h_diff > 0.0 or run.fast.n_fallbacks  # the NumPy path computed the state, not a copy of torch's


def test_near_tied_logits_are_decided_by_the_torch_step_and_its_state_kept(btc_5m_path: Path) -> None:
    cfg, dataset = _setup(btc_5m_path)
    model = _model(cfg, dataset)
    with th.no_grad():  # actions 0 and 1 tie exactly whenever they are the two best
        output = _output_layer(model)
        output.weight[1] = output.weight[0]
        output.bias[1] = output.bias[0]
    run = _lockstep(cfg, dataset, model, None)
    assert run.fast.n_fallbacks > 0
    assert all(ours == theirs for ours, theirs in run.actions)
    assert run.h_diff < STATE_TOLERANCE


def test_the_torch_step_is_chosen_with_its_reason(btc_5m_path: Path) -> None:
    cfg, dataset = _setup(btc_5m_path, "env.action_type=continuous")
    model = _model(cfg, dataset)
    rows = range(100, 200)
    policy = make_policy(model, None, dataset.obs_features, cfg.env.window, rows, None)
    assert isinstance(policy, PredictPolicy) and policy.why_slow is not None and "Box actions" in policy.why_slow
    cfg, dataset = _setup(btc_5m_path)
    model = _model(cfg, dataset)
    early = make_policy(model, None, dataset.obs_features, cfg.env.window, range(0, 100), None)
    assert isinstance(early, PredictPolicy) and "before the first full window" in str(early.why_slow)
    plain = make_policy(model, None, dataset.obs_features, cfg.env.window, rows, None, fast=False)
    assert isinstance(plain, PredictPolicy) and "fast=False" in str(plain.why_slow)


def test_the_logit_error_bound_holds_for_any_state_error_within_the_tolerance(btc_5m_path: Path) -> None:
    cfg, dataset = _setup(btc_5m_path)
    model = _model(cfg, dataset)
    env = make_validation_env(cfg, dataset, "train")
    episode = env.unwrapped.evaluation_episodes[0]  # type: ignore[attr-defined]
    fast = make_policy(model, None, dataset.obs_features, cfg.env.window, range(episode.start, episode.stop), None)
    assert isinstance(fast, FastLstmPolicy)
    # the actor's layers in float64: the logits of a perturbed hidden state without float32 rounding
    policy = cast(RecurrentActorCriticPolicy, model.policy)
    actor = copy.deepcopy(th.nn.Sequential(*policy.mlp_extractor.policy_net, policy.action_net)).double()
    rng = np.random.default_rng(1)
    obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    fast.reset()
    for _ in range(40):
        action = fast.act(obs, env.unwrapped.current_row)  # type: ignore[attr-defined]
        h = fast.layers[-1].h_new.copy()
        logits = fast.stages[-1].out.copy()
        best, second = np.argsort(logits)[::-1][:2]
        bound = fast._error_bound(int(best), int(second))
        # the corners the gap's gradient points to (the worst case to first order), random corners, inside points
        h_grad = th.as_tensor(h[None, :]).requires_grad_()
        gap = actor(h_grad)[0]
        (gap[best] - gap[second]).backward()
        assert h_grad.grad is not None
        worst = np.sign(h_grad.grad.numpy())
        signs = np.concatenate([worst, -worst, rng.choice([-1.0, 1.0], (64, h.size)), rng.uniform(-1, 1, (64, h.size))])
        with th.no_grad():
            moved = actor(th.as_tensor(h[None, :] + STATE_TOLERANCE * signs)).numpy()
        gap_error = np.abs((moved[:, best] - moved[:, second]) - (logits[best] - logits[second]))
        assert gap_error.max() <= bound
        obs, *_ = env.step(action)
