"""Config sections of training: algorithm hyperparameters, workers, checkpoints and validation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.config.base import Section


class PPOConfig(Section):
    """stable-baselines3 PPO hyperparameters (same names as ``PPO``'s arguments); ``net_arch`` = hidden layer sizes."""

    learning_rate: float = Field(3e-4, gt=0, lt=1)
    n_steps: int = Field(256, ge=8, description="rollout steps per env per update (buffer = n_steps * n_envs)")
    batch_size: int = Field(256, ge=8)
    n_epochs: int = Field(4, ge=1, le=100)
    gamma: float = Field(0.99, gt=0, le=1)
    gae_lambda: float = Field(0.95, gt=0, le=1)
    clip_range: float = Field(0.2, gt=0, lt=1)
    ent_coef: float = Field(0.01, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    net_arch: list[int] = Field(default_factory=lambda: [128, 128])


class DQNConfig(Section):
    """Double-DQN hyperparameters (same names as stable-baselines3 ``DQN``'s arguments)."""

    learning_rate: float = Field(1e-4, gt=0, lt=1)
    buffer_size: int = Field(100_000, ge=100)
    learning_starts: int = Field(1_000, ge=0)
    batch_size: int = Field(128, ge=8)
    gamma: float = Field(0.99, gt=0, le=1)
    train_freq: int = Field(4, ge=1)
    gradient_steps: int = Field(1, ge=-1)
    target_update_interval: int = Field(1_000, ge=1)
    exploration_fraction: float = Field(0.2, gt=0, le=1)
    exploration_final_eps: float = Field(0.05, ge=0, le=1)
    net_arch: list[int] = Field(default_factory=lambda: [128, 128])
    save_replay_buffer: bool = Field(False, description="store the replay buffer with checkpoints for --resume")


class ExtractorConfig(Section):
    """Feature extractor of the market window (see bot/training/extractors.py); ``mlp`` flattens it (SB3's default)."""

    kind: Literal["mlp", "cnn1d", "lstm", "transformer"] = Field(
        "mlp", description="mlp (flatten) | cnn1d | lstm | transformer over the bars of the window"
    )
    channels: int = Field(32, ge=1, le=1024, description="cnn1d: filters per convolution")
    kernel_size: int = Field(5, ge=2, le=256, description="cnn1d: bars per filter")
    hidden_size: int = Field(64, ge=1, le=4096, description="features of the sequence (cnn1d: after its linear layer)")
    n_layers: int = Field(2, ge=1, le=16, description="cnn1d / lstm / transformer: stacked layers")
    n_heads: int = Field(4, ge=1, le=64, description="transformer: attention heads (divides hidden_size)")


#: ``training.algo`` values that name a supervised baseline (fitted by bot/training/supervised.py), not an RL algorithm
SUPERVISED_ALGOS = ("rf", "gbm")
#: ``training.algo`` -> the ``training`` sections holding its hyperparameters
ALGO_SECTIONS: dict[str, tuple[str, ...]] = {
    "ppo": ("ppo", "extractor"),
    "maskable_ppo": ("ppo", "extractor"),
    "ddqn": ("dqn", "extractor"),
    "recurrent_ppo": ("ppo", "recurrent", "extractor"),
    "rf": ("supervised",),
    "gbm": ("supervised",),
}


class RecurrentConfig(Section):
    """The LSTM of ``training.algo: recurrent_ppo`` (sb3-contrib ``RecurrentPPO``'s policy arguments); the PPO
    hyperparameters come from ``training.ppo``."""

    lstm_hidden_size: int = Field(64, ge=1, le=4096, description="units of the policy's LSTM")
    n_lstm_layers: int = Field(1, ge=1, le=8, description="stacked LSTM layers")
    enable_critic_lstm: bool = Field(True, description="the value function has its own LSTM (else a feed-forward)")


class SupervisedConfig(Section):
    """The supervised baselines ``training.algo: rf | gbm``: a classifier of the sign of the forward return (see
    bot/training/supervised.py)."""

    n_estimators: int = Field(200, ge=1, le=100_000, description="rf: trees; gbm: boosting iterations")
    max_depth: int | None = Field(8, ge=1, le=1000, description="depth limit of each tree (null = none; rf only)")
    min_samples_leaf: int = Field(50, ge=1, description="samples a leaf holds at least")
    learning_rate: float = Field(0.05, gt=0, le=1, description="gbm: shrinkage")
    max_features: float = Field(0.5, gt=0, le=1, description="rf: share of the features tried at each split")
    horizon: int = Field(0, ge=0, le=10_000, description="bars of the forward return (0 = env.decision_every)")
    lags: int = Field(4, ge=1, le=4096, description="newest bars of the market window given to the model")
    thresholds: list[float] = Field(
        default_factory=lambda: [0.5, 0.52, 0.55, 0.6, 0.65],
        min_length=1,
        description="decision thresholds on P(up) tried on the validation split (the best Sharpe is kept)",
    )

    @field_validator("thresholds")
    @classmethod
    def _in_range(cls, value: list[float]) -> list[float]:
        bad = [t for t in value if not 0.5 <= t < 1.0]
        if bad:
            raise ValueError(f"each threshold must be in [0.5, 1), got {bad}")
        return value


class TrainingConfig(Section):
    """Algorithm, parallel workers, budget, checkpoints and validation of a training run."""

    algo: Literal["ppo", "ddqn", "maskable_ppo", "recurrent_ppo", "rf", "gbm"] = Field(
        "ppo", description="ppo | ddqn | maskable_ppo | recurrent_ppo (RL); rf | gbm (supervised baselines)"
    )
    n_workers: int | Literal["auto"] = Field(
        "auto",
        description="worker processes (1 = in-process); auto = chosen per machine from the cores and a short probe,"
        " over training.n_envs envs in all (the result does not depend on the choice)",
    )
    n_envs_per_worker: int = Field(
        4, ge=1, le=256, description="environments stepped as a batch in each worker (an explicit n_workers)"
    )
    n_envs: int = Field(
        8, ge=1, le=4096, description="environments in all when n_workers is auto, split evenly over the workers"
    )

    @field_validator("n_workers", mode="before")
    @classmethod
    def _auto_or_count(cls, value: object) -> object:
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64):
            return value
        raise ValueError(f"must be auto or a whole number greater than or equal to 1 and at most 64, got {value!r}")

    total_timesteps: int = Field(50_000, ge=1)
    start_method: Literal["fork", "forkserver", "spawn"] | None = Field(
        None, description="multiprocessing start method (default: forkserver on Linux, spawn elsewhere)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(
        0,
        ge=0,
        description="torch threads for the learner (0 = 1 for policies narrower than 512 units, so results do not"
        " depend on the worker layout; wider ones get the cores minus worker processes minus 1)",
    )
    worker_timeout_s: float | None = Field(
        None,
        ge=0,
        description="a worker silent this long (alive but no reply) counts as hung: the run saves a checkpoint and"
        " fails; null = derived from the measured step time (100 x the slowest of the first 100 step replies,"
        " within 60..600 s); 0 = wait as long as it lives",
    )
    worker_startup_timeout_s: float = Field(
        600.0,
        ge=0,
        description="a worker that has not built its environments after this long counts as hung at start-up: the"
        " run fails (0 = no limit)",
    )
    log_trades: bool = Field(
        False,
        description="log every simulated trade opened/closed by the training envs (thousands a minute);"
        " evaluation and paper trading always log them",
    )
    vecnormalize: bool = Field(False, description="wrap envs in VecNormalize (stats saved with checkpoints)")
    checkpoint_dir: str = Field("checkpoints", description="parent folder of run folders")
    checkpoint_freq: int = Field(10_000, ge=0, description="timesteps between numbered checkpoints (0 = end only)")
    keep_checkpoints: int = Field(3, ge=1, description="numbered checkpoints kept")
    eval_freq: int = Field(10_000, ge=0, description="timesteps between validation runs (0 = never)")
    early_stop_patience: int = Field(0, ge=0, description="stop after N validations without improvement (0 = off)")
    progress_event_every_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="seconds between progress events (--events-jsonl): the API dashboard's metric points",
    )
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    dqn: DQNConfig = Field(default_factory=DQNConfig)
    extractor: ExtractorConfig = Field(default_factory=ExtractorConfig)
    overlap: bool = Field(
        False,
        description="PPO: update on rollout k while the envs already collect rollout k+1 with the weights from before"
        " that update (staleness of one update; the importance ratio uses the behaviour policy's stored"
        " log-probabilities); false = exactly on-policy SB3 PPO",
    )
    max_staleness: int = Field(
        1, description="with overlap: updates a rollout's policy may lag the learner (only 1: one rollout ahead)"
    )
    recurrent: RecurrentConfig = Field(default_factory=RecurrentConfig)
    supervised: SupervisedConfig = Field(default_factory=SupervisedConfig)

    @model_validator(mode="after")
    def _check_overlap(self) -> TrainingConfig:
        if self.max_staleness != 1:
            raise ValueError(
                f"training.max_staleness={self.max_staleness!r} is not supported; only 1 (training.overlap collects"
                " one rollout ahead of the learner)"
            )
        if self.overlap and self.algo != "ppo":
            raise ValueError(
                f"training.overlap=true needs training.algo=ppo, got {self.algo!r} (Double-DQN is off-policy and"
                " MaskablePPO has no overlapped loop); set training.overlap=false"
            )
        return self
