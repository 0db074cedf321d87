"""``OverlapPPO``: PPO that learns from rollout k while the envs already collect rollout k+1 (``training.overlap``).

SB3's PPO alternates: collect a rollout, update on it, collect the next. While it updates, the worker processes sit
idle. Here the update on rollout k runs in a second thread on the *learner* policy, while this thread collects
rollout k+1 with a *behaviour* policy: a copy of the learner's weights (and optimiser state) from before that update.

What this means for PPO's on-policy assumption: rollout k+1 is acted by weights exactly one update old when the
learner updates on it (staleness 1; the first rollout has staleness 0). PPO stays correct in the sense that its
importance ratio ``pi_theta(a|s) / pi_old(a|s)`` uses the log-probabilities stored in the rollout buffer, which are the
behaviour policy's, the policy that actually chose the actions; the clipped surrogate keeps the update inside a trust
region around that behaviour policy, so the first epoch's ratio already differs from 1 (higher ``clip_fraction``) and
the advantages come from the behaviour policy's value estimates. With one update of lag this is the setting of
asynchronous PPO variants (e.g. APPO); it trades a little sample efficiency for keeping the workers busy. Every update
checks its staleness against ``max_staleness`` and counts it (:attr:`OverlapPPO.staleness_counts`,
``train/staleness`` in TensorBoard).

Callbacks run in this (the collecting) thread and see ``model.policy`` as the behaviour policy: validation and
checkpoints saved during an overlapped rollout hold the consistent weights and optimiser state from before the update
in flight, never a half-updated learner. The model saves and loads as a plain SB3 ``PPO`` (``PPO.load`` reads it).
"""

from __future__ import annotations

import inspect
import threading
import types
from collections import Counter
from typing import Any, TypeVar

from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.type_aliases import MaybeCallback

from bot.errors import TrainingError
from bot.training.device_rollout import StagedPPO

SelfOverlapPPO = TypeVar("SelfOverlapPPO", bound="OverlapPPO")


class _RecordedLogs:
    """Stands in for the SB3 logger during an update: its records are kept and replayed into the real logger once the
    update has ended, since the collecting thread's callbacks may dump (and clear) the real one meanwhile."""

    def __init__(self) -> None:
        self.records: list[tuple[str, Any, Any]] = []

    def record(self, key: str, value: Any, exclude: Any = None) -> None:
        self.records.append((key, value, exclude))

    def replay(self, logger: Logger) -> None:
        for key, value, exclude in self.records:
            logger.record(key, value, exclude)


class _UpdateView:
    """What ``PPO.train`` sees of the model during one update: the learner policy and the rollout it learns from.

    Attributes set here (policy, rollout buffer, logger, the update counter, the progress the schedules read) shadow
    the model's; everything else (hyperparameters, schedules) is read from the model, and the model's methods are
    bound to this view, so that an update changes the model only through the learner policy and :meth:`apply`.
    """

    def __init__(self, model: OverlapPPO, policy: ActorCriticPolicy, rollout_buffer: RolloutBuffer) -> None:
        self._model = model
        self.policy = policy
        self.rollout_buffer = rollout_buffer
        self.logger = _RecordedLogs()
        self._n_updates = model._n_updates
        self._current_progress_remaining = model._current_progress_remaining

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        if inspect.ismethod(value) and value.__self__ is self._model:
            return types.MethodType(value.__func__, self)
        return value

    def apply(self) -> None:
        """Hand the update's counter and log records to the model (after the update, in the collecting thread)."""
        self._model._n_updates = self._n_updates
        self.logger.replay(self._model.logger)


class _Update:
    """One PPO update, in a thread of its own (:meth:`start`) or in the caller's; :meth:`finish` waits for it."""

    def __init__(self, view: _UpdateView) -> None:
        self.view = view
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        try:
            PPO.train(self.view)  # type: ignore[arg-type]  # the view stands in for the model, see _UpdateView
        except BaseException as e:  # raised again by finish, in the collecting thread
            self.error = e

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bot-ppo-update", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Wait for the update (or run it here when it was not started) and apply it to the model.

        :raises BaseException: what the update raised.
        """
        if self._thread is None:
            self._run()
        else:
            self._thread.join()
        if self.error is not None:
            raise self.error
        self.view.apply()


class OverlapPPO(StagedPPO):
    """SB3 ``PPO`` whose update on rollout k overlaps the collection of rollout k+1 (staleness at most one update).

    On CUDA its rollouts use :class:`~bot.training.device_rollout.StagedPPO`'s pinned transfers.

    :param max_staleness: updates by which the policy that collected a rollout may lag the learner when it learns
        from that rollout; this design runs exactly one rollout ahead, so only 1 is accepted.
    :raises ValueError: for a ``max_staleness`` other than 1.
    """

    def __init__(self, *args: Any, max_staleness: int = 1, **kwargs: Any) -> None:
        if max_staleness != 1:
            raise ValueError(f"max_staleness={max_staleness!r}: only 1 is supported (one rollout ahead of the learner)")
        self.max_staleness = max_staleness
        #: staleness -> updates learnt with it (0: the rollout was collected by the learner's current weights)
        self.staleness_counts: Counter[int] = Counter()
        self._behaviour: ActorCriticPolicy | None = None
        self._buffers: tuple[RolloutBuffer, RolloutBuffer] | None = None
        super().__init__(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        # the behaviour copy and the second buffer are rebuilt from the learner; the counts belong to this process
        return [*super()._excluded_save_params(), "_behaviour", "_buffers", "staleness_counts", "max_staleness"]

    def _behaviour_policy(self, learner: ActorCriticPolicy) -> ActorCriticPolicy:
        """The learner's weights and optimiser state, copied into the behaviour policy (made on first use)."""
        if self._behaviour is None:  # built as PPO._setup_model builds the learner (a deepcopy fails on its graph)
            self._behaviour = self.policy_class(  # type: ignore[assignment]
                self.observation_space, self.action_space, self.lr_schedule, use_sde=self.use_sde, **self.policy_kwargs
            ).to(self.device)
        assert self._behaviour is not None
        self._behaviour.load_state_dict(learner.state_dict())
        self._behaviour.optimizer.load_state_dict(learner.optimizer.state_dict())
        return self._behaviour

    def _other_buffer(self) -> RolloutBuffer:
        """The buffer of the pair that ``self.rollout_buffer`` is not: the next rollout never overwrites the one being
        learnt, also when a learn call ended half-way through a rollout (the pair is made on first use)."""
        if self._buffers is None or not any(b is self.rollout_buffer for b in self._buffers):
            second = type(self.rollout_buffer)(  # as PPO._setup_model builds the first
                self.n_steps,
                self.observation_space,
                self.action_space,
                device=self.device,
                gamma=self.gamma,
                gae_lambda=self.gae_lambda,
                n_envs=self.n_envs,
                **self.rollout_buffer_kwargs,
            )
            self._buffers = (self.rollout_buffer, second)
        first, second = self._buffers
        return second if self.rollout_buffer is first else first

    def _update_view(self, learner: ActorCriticPolicy, rollout: tuple[RolloutBuffer, int], version: int) -> _UpdateView:
        """The view for updating ``learner`` (at ``version`` updates) on a rollout collected at another version.

        :raises TrainingError: when the rollout is staler than ``max_staleness`` (a bug in the pipeline, not a
            user error: the run stops rather than learn from it).
        """
        buffer, collected_at = rollout
        staleness = version - collected_at
        if not 0 <= staleness <= self.max_staleness:
            raise TrainingError(
                f"PPO update {version} would learn from a rollout collected at update {collected_at} (staleness"
                f" {staleness}, allowed 0..{self.max_staleness})"
            )
        self.staleness_counts[staleness] += 1
        view = _UpdateView(self, learner, buffer)
        view.logger.record("train/staleness", staleness)
        return view

    def learn(
        self: SelfOverlapPPO,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "PPO",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfOverlapPPO:
        """SB3's ``learn`` loop with each update but the last running while the next rollout is collected."""
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        if self.num_timesteps < total_timesteps and self._collect(self.rollout_buffer, callback):
            self._learn_overlapped(total_timesteps, callback, log_interval)
        callback.on_training_end()
        return self

    def _collect(self, buffer: RolloutBuffer, callback: BaseCallback) -> bool:
        assert self.env is not None
        self.rollout_buffer = buffer  # callbacks that look at the model's buffer see the one being filled
        return self.collect_rollouts(self.env, callback, buffer, n_rollout_steps=self.n_steps)

    def _learn_overlapped(self, total_timesteps: int, callback: BaseCallback, log_interval: int) -> None:
        """From the first collected rollout on: update on rollout k while collecting k+1, until the budget is done."""
        learner = self.policy
        rollout = (self.rollout_buffer, 0)
        version = iteration = 0  # updates done by the learner in this call; rollouts collected
        while True:
            iteration += 1
            self._update_current_progress_remaining(self.num_timesteps, total_timesteps)
            if log_interval is not None and iteration % log_interval == 0:
                self.dump_logs(iteration)
            if self.num_timesteps >= total_timesteps:  # the last rollout: nothing left to collect beside it
                _Update(self._update_view(learner, rollout, version)).finish()
                return
            self.policy = self._behaviour_policy(learner)  # the weights before the update that now starts
            update = _Update(self._update_view(learner, rollout, version))
            update.start()
            try:
                collected = self._collect(self._other_buffer(), callback)
            finally:
                self.policy = learner
                update.finish()
            if not collected:
                return
            rollout = (self.rollout_buffer, version)
            version += 1
