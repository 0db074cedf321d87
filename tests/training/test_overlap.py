"""``training.overlap``: off is SB3 PPO bit for bit; on, each update runs while the next rollout is collected by the
weights from before it (staleness exactly one update, instrumented and bounded), with 2 worker processes too."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bot.cli import main
from bot.config import TrainingConfig, load_config
from bot.errors import ConfigError, TrainingError
from bot.training.algorithms import build_model, load_class
from bot.training.overlap import OverlapPPO
from bot.training.vec_env import ParallelVecEnv
from tests.support.toy_env import ToyEnvFactory
from tests.support.training import only_run, set_args, state_dicts_equal, tiny_synthetic

PPO_SECTION = {"n_steps": 16, "batch_size": 16, "n_epochs": 2, "net_arch": [8]}
ENVS = 2


def _model(venv: VecEnv, overlap: bool | None) -> Any:
    extra = {} if overlap is None else {"overlap": overlap}
    return build_model(TrainingConfig(algo="ppo", ppo=PPO_SECTION, **extra), venv, seed=5, device="cpu",
                       tensorboard_log=None)


def _learnt(overlap: bool | None, rollouts: int, callback: BaseCallback | None = None) -> Any:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=1, n_envs_per_worker=ENVS)
    try:
        model = _model(venv, overlap)
        model.learn(rollouts * PPO_SECTION["n_steps"] * ENVS, callback=callback)
        return model
    finally:
        venv.close()


def _optimiser_states_equal(a: th.optim.Optimizer, b: th.optim.Optimizer) -> bool:
    sa, sb = a.state_dict()["state"], b.state_dict()["state"]
    return sa.keys() == sb.keys() and all(
        th.equal(sa[k][name], sb[k][name]) for k in sa for name in ("exp_avg", "exp_avg_sq")
    )


def test_overlap_off_is_sb3_ppo_with_identical_parameters() -> None:
    default, off = _learnt(None, rollouts=2), _learnt(False, rollouts=2)
    assert type(default) is PPO and type(off) is PPO
    assert state_dicts_equal(default.policy, off.policy)
    assert _optimiser_states_equal(default.policy.optimizer, off.policy.optimizer)


def test_an_update_through_the_overlap_loop_equals_sb3_ppo_update() -> None:
    # one rollout: the overlapped loop's last update runs in place, through the same view PPO.train sees when
    # overlapped; it must change the model exactly as SB3's own loop does
    plain, overlapped = _learnt(False, rollouts=1), _learnt(True, rollouts=1)
    assert type(overlapped) is OverlapPPO and overlapped.staleness_counts == {0: 1}
    assert state_dicts_equal(plain.policy, overlapped.policy)
    assert _optimiser_states_equal(plain.policy.optimizer, overlapped.policy.optimizer)
    assert overlapped._n_updates == plain._n_updates == PPO_SECTION["n_epochs"]
    assert load_class("ppo", overlap=True) is OverlapPPO  # a resumed overlap run continues overlapped


def test_one_seed_gives_one_model_with_overlap_too() -> None:
    # the update thread draws only from numpy's generator (minibatch order), the collecting thread only from torch's
    # (action sampling): however the threads interleave, a seed gives the same model
    first, second = _learnt(True, rollouts=3), _learnt(True, rollouts=3)
    assert state_dicts_equal(first.policy, second.policy)
    assert not state_dicts_equal(first.policy, _learnt(False, rollouts=3).policy)  # and it is not on-policy PPO's


class _RolloutSpy(BaseCallback):
    """At the end of each rollout: the weights that collected it, its observations, actions and stored log-probs."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict[str, Any]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        self.rollouts.append({
            "weights": copy.deepcopy(self.model.policy.state_dict()),
            "observations": {k: v.copy() for k, v in buffer.observations.items()},  # type: ignore[union-attr]
            "actions": buffer.actions.copy(),
            "log_probs": buffer.log_probs.copy(),
        })


def _weights_equal(a: dict[str, th.Tensor], b: dict[str, th.Tensor]) -> bool:
    return a.keys() == b.keys() and all(th.equal(a[k], b[k]) for k in a)


def test_overlapped_rollouts_are_collected_one_update_behind_with_their_log_probs_stored() -> None:
    spy = _RolloutSpy()
    model = _learnt(True, rollouts=4, callback=spy)
    assert model.staleness_counts == {0: 1, 1: 3}  # the first rollout is on-policy, every later one one behind
    weights = [r["weights"] for r in spy.rollouts]
    # rollout 1 is collected while update 0 runs, so by the same weights as rollout 0; each later one by the
    # weights of one more update
    assert _weights_equal(weights[0], weights[1])
    assert not _weights_equal(weights[1], weights[2]) and not _weights_equal(weights[2], weights[3])
    assert not _weights_equal(weights[3], model.policy.state_dict())  # the learner is one update further
    # the stored log-probs (PPO's ratio denominator) are those of the behaviour weights that acted, not the learner's
    behaviour = model.policy_class(
        model.observation_space, model.action_space, model.lr_schedule, **model.policy_kwargs
    )
    for rollout in spy.rollouts[1:]:
        behaviour.load_state_dict(rollout["weights"])
        obs = {k: th.as_tensor(v.reshape(-1, *v.shape[2:])) for k, v in rollout["observations"].items()}
        with th.no_grad():
            _, log_prob, _ = behaviour.evaluate_actions(obs, th.as_tensor(rollout["actions"].reshape(-1)).long())
        np.testing.assert_allclose(log_prob.numpy(), rollout["log_probs"].reshape(-1), rtol=1e-5, atol=1e-6)


class _StopAfter(BaseCallback):
    """Ends learn after ``steps`` vec-env steps (as a stop request does), mid-rollout."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        self.steps -= 1
        return self.steps > 0


def test_the_rollout_being_learnt_is_never_the_one_being_collected_also_after_a_stopped_learn() -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=1, n_envs_per_worker=ENVS)
    try:
        model = _model(venv, overlap=True)
        model.learn(4 * PPO_SECTION["n_steps"] * ENVS, callback=_StopAfter(PPO_SECTION["n_steps"] + 5))  # mid-rollout 2
        pairs: list[tuple[Any, Any]] = []  # (buffer being learnt, buffer being collected) at each collection
        learnt: list[Any] = []
        update_view, collect = model._update_view, model._collect

        def spy_update_view(learner: Any, rollout: tuple[Any, int], version: int) -> Any:
            learnt.append(rollout[0])
            return update_view(learner, rollout, version)

        def spy_collect(buffer: Any, callback: BaseCallback) -> bool:
            pairs.append((learnt[-1] if learnt else None, buffer))
            return bool(collect(buffer, callback))

        model._update_view, model._collect = spy_update_view, spy_collect
        model.learn(4 * PPO_SECTION["n_steps"] * ENVS, reset_num_timesteps=False)
    finally:
        venv.close()
    overlapped = [(trained, collected) for trained, collected in pairs if trained is not None]
    assert len(overlapped) >= 2 and all(trained is not collected for trained, collected in overlapped)


def _scalars(tb_dir: Path, tag: str) -> list[float]:
    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return [event.value for event in acc.Scalars(tag)]


def test_train_command_with_overlap_and_two_workers_bounds_the_staleness_and_resumes(tmp_path: Path) -> None:
    # 2 workers x 2 envs x 32 steps: 128 env steps per rollout
    overlap = ("training.n_workers=2", "training.overlap=true", "training.total_timesteps=384")
    overrides = tiny_synthetic(tmp_path, *overlap)
    argv = ["train", "--no-progress", "--checkpoint-dir", str(tmp_path)]
    assert main([*argv, *set_args(overrides)]) == 0
    run = only_run(tmp_path)
    assert load_config(run / "config.yaml").training.overlap
    # the first rollout is on-policy, each later one collected one update behind, never more
    assert _scalars(run / "tb", "train/staleness") == [0.0, 1.0, 1.0]
    resumed = [*set_args([*overrides[:-1], "training.total_timesteps=640"]), "--resume", str(run)]
    assert main([*argv, *resumed]) == 0
    assert _scalars(run / "tb", "train/staleness") == [0.0, 1.0, 1.0, 0.0, 1.0]  # a resumed learn starts on-policy
    loaded = PPO.load(run / "model.zip", device="cpu")  # the checkpoint contract: plain SB3 reads it
    assert type(loaded) is PPO and loaded.num_timesteps == 640


def test_a_rollout_staler_than_the_bound_is_refused() -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=1, n_envs_per_worker=ENVS)
    try:
        model = _model(venv, overlap=True)
        with pytest.raises(TrainingError, match=r"staleness 2, allowed 0\.\.1"):
            model._update_view(model.policy, (model.rollout_buffer, 3), version=5)
        assert model.staleness_counts == {}
    finally:
        venv.close()


def test_an_update_that_fails_in_its_thread_fails_learn_and_leaves_the_learner_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    venv = ParallelVecEnv(ToyEnvFactory(), n_workers=1, n_envs_per_worker=ENVS)
    try:
        model = _model(venv, overlap=True)
        learner = model.policy

        def broken_update(self: Any) -> None:
            raise FloatingPointError("loss is nan")

        monkeypatch.setattr(PPO, "train", broken_update)
        with pytest.raises(FloatingPointError, match="loss is nan"):
            model.learn(3 * PPO_SECTION["n_steps"] * ENVS)
        assert model.policy is learner
    finally:
        venv.close()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.max_staleness=2", "training.max_staleness=2 is not supported; only 1"),
        ("training.max_staleness=0", "training.max_staleness=0 is not supported; only 1"),
        ("training.overlap=maybe", "training.overlap"),
    ],
)
def test_bad_overlap_settings_are_config_errors_naming_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize("algo", ["ddqn", "maskable_ppo"])
def test_overlap_needs_ppo(algo: str) -> None:
    with pytest.raises(ConfigError, match=f"training.overlap=true needs training.algo=ppo, got '{algo}'"):
        load_config(None, ["training.overlap=true", f"training.algo={algo}"])
