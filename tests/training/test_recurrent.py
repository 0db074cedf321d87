"""``training.algo: recurrent_ppo``: a real 2-worker run that checkpoints, resumes and evaluates, and the LSTM state
carried by the policy interface (reset at every episode start, carried between steps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.vec_env import DummyVecEnv

from bot.cli import main
from bot.config import load_config
from bot.env import make_env
from bot.training.algorithms import build_model
from bot.training.checkpoints import load_checkpoint
from bot.training.policy import PredictPolicy, make_policy
from bot.training.rollout import run_episode
from bot.training.validation import make_validation_env
from tests.support.market_builder import simple_dataset
from tests.support.training import real_data_overrides, set_args

SMALL_LSTM = ["training.recurrent.lstm_hidden_size=8", "training.ppo.net_arch=[16]"]


@pytest.mark.slow
def test_trains_with_two_workers_resumes_and_evaluates(btc_5m_path: Path, tmp_path: Path) -> None:
    overrides = [
        *(o for o in real_data_overrides(btc_5m_path, tmp_path, "recurrent_ppo") if not o.startswith("training.dqn")),
        *SMALL_LSTM, "data.end=2023-03-12",
        "training.total_timesteps=256", "training.checkpoint_freq=128", "training.eval_freq=256", "run_name=lstm",
    ]
    assert main(["train", "--no-progress", *set_args(overrides)]) == 0
    run = tmp_path / "lstm"
    loaded = load_checkpoint(run, "latest")
    assert isinstance(loaded.model, RecurrentPPO) and loaded.manifest["algorithm"] == "recurrent_ppo"
    assert loaded.model.policy.lstm_actor.hidden_size == 8
    assert (run / "best" / "model.zip").is_file()  # validation ran the LSTM policy and kept a best model
    assert main(["train", "--no-progress", "--resume", str(run), *set_args(["training.total_timesteps=384"])]) == 0
    assert load_checkpoint(run, "latest").manifest["timesteps"] >= 384
    out = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", str(run), "--which", "latest", "--split", "test", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "LSTM state carried" in report and "exact NumPy LSTM step" in report


def _policy_and_env():  # type: ignore[no-untyped-def]
    cfg = load_config(None, ["training.algo=recurrent_ppo", "env.window=4", "env.decision_every=1", *SMALL_LSTM])
    dataset = simple_dataset(n=600, seed=2)
    train_env = make_env(cfg, "train", seed=0, dataset=dataset)
    model = build_model(cfg.training, DummyVecEnv([lambda: train_env]), seed=0, device="cpu", tensorboard_log=None)
    env = make_validation_env(cfg, dataset)
    return model, env


def test_reset_makes_identical_episodes_act_identically_and_the_state_is_carried() -> None:
    model, env = _policy_and_env()
    episode = env.unwrapped.evaluation_episodes[0]
    # the torch step (the live trader's; tests/training/test_fast_lstm.py checks the NumPy path against it)
    rows = range(episode.start, episode.stop)
    policy = make_policy(model, None, env.unwrapped.dataset.obs_features, 4, rows, None, fast=False)
    assert isinstance(policy, PredictPolicy) and policy.recurrent  # never the batched MLP path

    actions: list[list[int]] = [[], []]
    recorder = _Recorder(policy, actions)
    for run in (0, 1):
        recorder.run = run
        run_episode(env, recorder, episode)
    assert len(actions[0]) == episode.n_steps and actions[0] == actions[1]
    assert policy.state is not None and np.abs(np.asarray(policy.state[0])).sum() > 0  # the state moved along the run

    # the direct torch step is RecurrentPPO.predict's computation: the same actions on the same observations
    state, start = None, np.ones(1, dtype=bool)
    for obs, action in zip(recorder.observations, actions[1], strict=True):
        expected, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        start = np.zeros(1, dtype=bool)
        assert int(expected) == action

    # the same observation after a reset and after a long history: the carried state decides, not the observation
    obs, _ = env.reset(options={"start_index": episode.start, "end_index": episode.stop})
    policy.reset()
    policy.act(obs, -1)
    fresh = [np.asarray(s).copy() for s in policy.state]
    for _ in range(20):
        policy.act(obs, -1)
    assert not np.allclose(np.asarray(policy.state[0]), fresh[0])
    policy.reset()
    policy.act(obs, -1)
    assert all(np.allclose(np.asarray(s), f) for s, f in zip(policy.state, fresh, strict=True))


class _Recorder:
    """Records the wrapped policy's actions per run."""

    def __init__(self, policy: PredictPolicy, actions: list[list[int]]) -> None:
        self.policy, self.actions, self.run = policy, actions, 0
        self.observations: list[dict[str, np.ndarray]] = []  # of the last run

    def act(self, obs, row):  # type: ignore[no-untyped-def]
        if not self.actions[self.run]:
            self.observations = []
        self.observations.append({k: v.copy() for k, v in obs.items()})
        action = self.policy.act(obs, row)
        self.actions[self.run].append(int(action))
        return action

    def reset(self) -> None:
        self.policy.reset()


@pytest.mark.parametrize("key", ["training.recurrent.lstm_hidden_size=0", "training.recurrent.n_lstm_layers=9"])
def test_bad_lstm_sizes_are_config_errors(key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", "training.algo=recurrent_ppo", "--set", key]) == 2
    assert key.split("=")[0] in capsys.readouterr().err


def test_double_dqn_keys_on_a_recurrent_run_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--set", "training.algo=recurrent_ppo", "--set", "training.dqn.buffer_size=500"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training.dqn.buffer_size does not apply to training.algo='recurrent_ppo'" in err
    assert "training.recurrent.*" in err
