"""Fitting the supervised baselines ``training.algo: rf | gbm`` into a run folder like any ``bot train`` run.

A scikit-learn ``RandomForestClassifier`` (``rf``) or ``HistGradientBoostingClassifier`` (``gbm``) learns
P(the forward return over ``horizon`` bars is positive) from the newest ``lags`` bars of the scaled features, on
every decision row of the train split's gap-free runs. The decision threshold is then chosen on the validation split
(the best Sharpe of ``training.supervised.thresholds``, run through the same rollout as every RL model), and the
model is saved as ``model.joblib`` with the run's manifest, config and scaler (:mod:`bot.training.checkpoints`).

Look-ahead boundary: the features of row ``t`` are rows ``t - lags + 1 .. t`` of ``Dataset.obs_features``, known at
the close of ``t``. The label of row ``t`` is the sign of ``open[t + 1 + horizon] / open[t + 1] - 1``: the return of
a position filled at the next open and held ``horizon`` bars. It reads bars after ``t`` and is used as the training
target only, never as a feature; rows whose label would need a bar past the end of their gap-free run (and so past
the train split) are left out, so no training target reads a validation or test bar.

Progress: the trees (rf) or boosting iterations (gbm) grow in about ten chunks (``warm_start``), each followed by a
``progress`` event whose ``timesteps`` count the trees built, so the API shows a fit like any training job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from bot.config import BotConfig
from bot.data import Dataset
from bot.env import EpisodeBounds, TradingEnv
from bot.errors import ConfigError
from bot.training.checkpoints import CheckpointWriter
from bot.training.events import EventWriter
from bot.training.manifest import run_info
from bot.training.policy import make_policy
from bot.training.progress import StopFlag
from bot.training.supervised_policy import SupervisedModel
from bot.training.validation import ValidationResult, make_validation_env, validate_policy

logger = logging.getLogger(__name__)

#: progress events (and ``warm_start`` fits) per fit
_CHUNKS = 10


@dataclass(frozen=True, slots=True)
class SupervisedOutcome:
    """How a fit ended: ``status`` (``completed`` or ``interrupted``), trees built, and the validation metrics at
    the chosen threshold (None when interrupted)."""

    status: str
    timesteps: int
    validation: ValidationResult | None


def training_samples(
    opens: npt.NDArray[np.float64], runs: list[EpisodeBounds], horizon: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8]]:
    """The decision rows of ``runs`` whose forward return is known inside their run, and its sign (1 = up).

    :param opens: float64 [n] bar open prices.
    :param runs: gap-free runs of one split (``TradingEnv.evaluation_episodes``).
    :param horizon: bars held after the fill.
    :return: int64 [m] rows and int8 [m] labels.
    """
    rows = [np.arange(run.start, run.stop - 1 - horizon, dtype=np.int64) for run in runs]
    all_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    forward = opens[all_rows + 1 + horizon] / opens[all_rows + 1] - 1.0
    return all_rows, (forward > 0.0).astype(np.int8)


def make_estimator(cfg: BotConfig) -> Any:
    """A fresh, unfitted classifier of ``training.algo`` with ``warm_start`` (grown chunk by chunk)."""
    s = cfg.training.supervised
    if cfg.training.algo == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=0,
            max_depth=s.max_depth,
            min_samples_leaf=s.min_samples_leaf,
            max_features=s.max_features,
            n_jobs=1,
            random_state=cfg.seed,
            warm_start=True,
        )
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        max_iter=0,
        learning_rate=s.learning_rate,
        max_depth=s.max_depth,
        min_samples_leaf=s.min_samples_leaf,
        early_stopping=False,
        random_state=cfg.seed,
        warm_start=True,
    )


def check_supervised(cfg: BotConfig) -> None:
    """Refuse settings a supervised baseline cannot act on.

    :raises ConfigError: naming the key and what would work.
    """
    env = cfg.env
    if env.action_type != "discrete" or env.action_mode != "target":
        raise ConfigError(
            f"training.algo={cfg.training.algo!r} maps its prediction to a target exposure: it needs"
            f" env.action_type='discrete' and env.action_mode='target', got {env.action_type!r} / {env.action_mode!r}"
        )
    if cfg.training.supervised.lags > env.window:
        raise ConfigError(
            f"training.supervised.lags={cfg.training.supervised.lags} exceeds env.window={env.window}: the model"
            " reads the newest bars of the observation window; lower lags or raise env.window"
        )


def _grow(estimator: Any, algo: str, size: int) -> None:
    estimator.set_params(**({"n_estimators": size} if algo == "rf" else {"max_iter": size}))


def choose_threshold(
    model: SupervisedModel, cfg: BotConfig, dataset: Dataset
) -> tuple[float, ValidationResult]:
    """The threshold of ``training.supervised.thresholds`` with the best validation Sharpe (the first on ties),
    left set on ``model``, and its validation metrics."""
    env = make_validation_env(cfg, dataset)
    try:
        trading_env = cast(TradingEnv, env.unwrapped)
        episodes = trading_env.evaluation_episodes
        rows = range(episodes[0].start, episodes[-1].stop)
        policy = make_policy(model, None, dataset.obs_features, cfg.env.window, rows, trading_env.action_masks)
        best: tuple[float, ValidationResult] | None = None
        for threshold in cfg.training.supervised.thresholds:
            model.threshold = threshold  # the policy reads it at every step; the probabilities stay computed
            result = validate_policy(policy, env, cfg.data.base_timeframe)
            logger.info("Threshold %.3f: validation Sharpe %.3f, %d trades", threshold, result.sharpe, result.trades)
            if best is None or result.sharpe > best[1].sharpe:
                best = (threshold, result)
    finally:
        env.close()
    assert best is not None  # thresholds has at least one entry (config)
    model.threshold = best[0]
    return best


def train_supervised(
    cfg: BotConfig,
    dataset: Dataset,
    run_dir: Path,
    events: EventWriter,
    stop: StopFlag,
    resume_from: Path | None = None,
) -> SupervisedOutcome:
    """Fit ``cfg.training.algo`` on the train split, choose its threshold on the validation split and save it.

    :param cfg: the resolved config (saved with the model).
    :param dataset: the dataset with the scaler fit on train.
    :param run_dir: the run folder (exists).
    :param events: the JSON-lines event writer.
    :param stop: a stop request ends the fit after the current chunk; the model so far is saved as ``interrupted``.
    :param resume_from: must be None: a fit cannot be continued.
    :raises ConfigError: for ``--resume``, settings the model cannot act on, or a train split without samples.
    """
    algo = cfg.training.algo
    if resume_from is not None:
        raise ConfigError(
            f"{run_dir} is a {algo!r} run: a supervised model is fitted in one go and cannot be resumed (--resume);"
            f" start a new run with `bot train --algo {algo}`, or resume an RL run (ppo, ddqn, ...)"
        )
    check_supervised(cfg)
    if dataset.scaler is None:
        raise ValueError("the dataset carries no feature scaler; build it with bot.data.build_dataset")
    s = cfg.training.supervised
    horizon = s.horizon or cfg.env.decision_every
    train_env = make_validation_env(cfg, dataset, "train")
    trading_env = cast(TradingEnv, train_env.unwrapped)
    rows, labels = training_samples(dataset.market.open, trading_env.evaluation_episodes, horizon)
    rows_ok = rows >= s.lags - 1
    rows, labels = rows[rows_ok], labels[rows_ok]
    if rows.size < 2 or np.unique(labels).size < 2:
        raise ConfigError(
            f"the train split gives {rows.size} samples of the {horizon}-bar forward return with"
            f" {np.unique(labels).size} classes; a supervised model needs both up and down moves: use more data"
            " (data.start / data.end, splits) or a shorter training.supervised.horizon"
        )
    model = SupervisedModel(
        algo,
        make_estimator(cfg),
        s.lags,
        horizon,
        trading_env.actions.targets,
        trading_env.observation_space,
        trading_env.action_space,
    )
    info = run_info(run_dir, cfg, dataset, trading_env.observation_space, trading_env.action_space)
    train_env.close()
    x = model.row_features(dataset.obs_features, rows)
    logger.info("Fitting %s on %d rows x %d features (%.1f%% up)", algo, x.shape[0], x.shape[1], 100 * labels.mean())
    events.emit("started", run_dir=str(run_dir), timesteps=0, total_timesteps=s.n_estimators)
    status = "completed"
    step = max(1, -(-s.n_estimators // _CHUNKS))
    for size in range(step, s.n_estimators + step, step):
        size = min(size, s.n_estimators)
        _grow(model.estimator, algo, size)
        model.estimator.fit(x, labels)
        model.num_timesteps = size
        events.emit("progress", timesteps=size, total_timesteps=s.n_estimators, fps=None, metrics={"trees": size})
        if stop.is_set and size < s.n_estimators:
            logger.warning("Stopping the fit on %s after %d of %d trees", stop.reason, size, s.n_estimators)
            status = "interrupted"
            break
    writer = CheckpointWriter(run_dir, cfg, info, dataset.scaler)
    extra: dict[str, Any] = {"samples": int(x.shape[0]), "positive_share": float(labels.mean()), "horizon": horizon}
    result = None
    if status == "completed":
        threshold, result = choose_threshold(model, cfg, dataset)
        extra.update(validation=result.as_dict(), threshold=threshold)
        writer.save_best(model, None, result.as_dict())
    writer.save_latest(model, None, status, extra)
    if status == "interrupted":
        events.emit("cancelled", reason=stop.reason, timesteps=model.num_timesteps, path=str(run_dir))
    else:
        events.emit("completed", timesteps=model.num_timesteps, path=str(run_dir), metrics=extra["validation"])
    return SupervisedOutcome(status, model.num_timesteps, result)
