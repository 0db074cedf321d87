"""Short PPO and Double-DQN runs with 2 worker processes on real BTC/USDT candles: layout, manifest, loading,
TensorBoard tags, events, resume; and one seed giving one model in every worker layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stable_baselines3 import DQN, PPO

from bot.cli import main
from bot.config import load_config
from bot.data import build_dataset
from bot.training.checkpoints import load_checkpoint
from bot.training.events import EventWriter
from bot.training.progress import StopFlag
from bot.training.trainer import train
from tests.support.training import (
    hparam_tags,
    only_run,
    real_data_overrides,
    scalar_tags,
    set_args,
    state_dicts_equal,
)

AGGREGATED_TAGS = {
    "env/episode_return",
    "env/final_equity",
    "env/sharpe",
    "env/max_drawdown",
    "env/trades",
    "env/win_rate",
    "env/fees",
    "env/exposure",
    "dbe/mode_share_defensive",
    "dbe/mode_share_neutral",
    "dbe/mode_share_aggressive",
    "validation/sharpe",
    "rollout/ep_rew_mean",
}


def test_ppo_two_workers_on_real_data(btc_5m_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.jsonl"
    args = ["train", "--no-progress", "--events-jsonl", str(events)]
    assert main(args + set_args(real_data_overrides(btc_5m_path, tmp_path / "ck"))) == 0
    run = only_run(tmp_path / "ck")
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {run / 'tb'}" in out and "Evaluation on the validation split" in out

    top = {p.name for p in run.iterdir()}
    assert {"model.zip", "config.yaml", "manifest.json", "scaler.json", "best", "tb", "bot.log"} <= top
    assert {"step_512", "step_1024"} <= top
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["algorithm"] == "ppo" and manifest["status"] == "completed"
    assert manifest["timesteps"] >= 1024 and manifest["seed"] == 42
    names = manifest["feature_names"]
    assert names[0] == "5m.log_return" and any(n.startswith("1h.") for n in names)
    assert manifest["observation_shapes"]["market"] == [8, len(manifest["feature_names"])]
    assert set(manifest["validation"]) >= {"sharpe", "total_return", "max_drawdown"}
    assert load_config(run / "config.yaml").training.n_workers == 2  # the resolved config, overrides applied

    assert PPO.load(run / "model.zip", device="cpu").num_timesteps == manifest["timesteps"]
    assert PPO.load(run / "best" / "model.zip", device="cpu").num_timesteps > 0
    cfg = load_config(run / "config.yaml")
    loaded = load_checkpoint(run, "best", schema_hash=build_dataset(cfg).schema_hash)
    assert loaded.manifest["validation"]["sharpe"] >= manifest["validation"]["sharpe"]  # best/ keeps the best

    tags = scalar_tags(run / "tb")
    assert tags >= AGGREGATED_TAGS, AGGREGATED_TAGS - tags
    assert {"train/loss", "logging/suppressed_dedup"} <= tags
    assert "_hparams_/session_start_info" in hparam_tags(run / "tb")

    lines = [json.loads(line) for line in events.read_text().splitlines()]
    types = [e["type"] for e in lines]
    assert types[0] == "started" and types[-1] == "completed" and "checkpoint" in types
    assert lines[-1]["metrics"]["sharpe"] == pytest.approx(manifest["validation"]["sharpe"])


def test_ddqn_two_workers_resume_continues_the_step_count(btc_5m_path: Path, tmp_path: Path) -> None:
    overrides = [*real_data_overrides(btc_5m_path, tmp_path, "ddqn"), "training.dqn.save_replay_buffer=true"]
    assert main(["train", "--no-progress", *set_args(overrides)]) == 0
    run = only_run(tmp_path)
    first = json.loads((run / "manifest.json").read_text())
    assert first["algorithm"] == "ddqn" and (run / "replay_buffer.pkl").is_file()
    model = DQN.load(run / "model.zip", device="cpu")  # plain SB3 DQN reads our DoubleDQN
    assert model.num_timesteps == first["timesteps"] >= 1024

    resume = ["train", "--no-progress", "--checkpoint-dir", str(tmp_path), "--resume", "--timesteps", "1536"]
    assert main(resume) == 0  # --resume without a folder continues the newest run under --checkpoint-dir
    second = json.loads((run / "manifest.json").read_text())
    assert second["timesteps"] >= 1536 and second["total_timesteps"] == 1536
    assert second["run_id"] == first["run_id"] and only_run(tmp_path) == run
    resumed = DQN.load(run / "model.zip", device="cpu")
    assert resumed.num_timesteps == second["timesteps"]
    assert resumed._n_updates > model._n_updates  # optimiser kept stepping from where it stopped


def _short_run(btc_5m_path: Path, folder: Path, n_workers: int, n_envs_per_worker: int) -> PPO:
    overrides = [
        *real_data_overrides(btc_5m_path, folder),
        f"training.n_workers={n_workers}",
        f"training.n_envs_per_worker={n_envs_per_worker}",
        "training.torch_threads=0",  # the default: one learner thread for this small policy, whatever the layout
        "training.total_timesteps=512",  # two rollouts of 64 steps x 4 envs
        "training.eval_freq=0",
        "training.checkpoint_freq=0",
        "run_name=det",
    ]
    cfg = load_config(None, overrides)
    run_dir = folder / "det"
    run_dir.mkdir(parents=True)
    outcome = train(
        cfg,
        build_dataset(cfg),
        run_dir,
        resume=False,
        events=EventWriter(None),
        stop=StopFlag(),
        show_progress=False,
    )
    assert outcome.status == "completed" and outcome.timesteps == 512
    return PPO.load(run_dir / "model.zip", device="cpu")


def test_same_seed_gives_identical_parameters_in_every_layout(btc_5m_path: Path, tmp_path: Path) -> None:
    in_process = _short_run(btc_5m_path, tmp_path / "a", n_workers=1, n_envs_per_worker=4)
    two_workers = _short_run(btc_5m_path, tmp_path / "b", n_workers=2, n_envs_per_worker=2)
    assert state_dicts_equal(in_process.policy, two_workers.policy)


def test_maskable_ppo_with_vecnormalize_resumes_its_statistics(tmp_path: Path) -> None:
    overrides = [
        "data.synthetic.n_bars=3000",
        "features.indicators=[log_return, rsi]",
        "data.timeframes=[5m]",
        "env.window=4",
        "env.episode_length=64",
        "training.algo=maskable_ppo",
        "training.vecnormalize=true",
        "training.n_workers=1",
        "training.n_envs_per_worker=2",
        "training.total_timesteps=256",
        "training.eval_freq=128",
        "training.checkpoint_freq=0",
        "training.ppo.n_steps=64",
        "training.ppo.batch_size=64",
        "training.ppo.n_epochs=1",
        "training.torch_threads=1",
    ]
    cfg = load_config(None, overrides)
    dataset = build_dataset(cfg)
    common = {"events": EventWriter(None), "stop": StopFlag(), "show_progress": False}
    train(cfg, dataset, tmp_path, resume=False, **common)  # type: ignore[arg-type]
    first = load_checkpoint(tmp_path, schema_hash=dataset.schema_hash)
    assert first.vecnormalize is not None and (tmp_path / "best" / "vecnormalize.pkl").is_file()
    count = first.vecnormalize.obs_rms["market"].count

    cfg2 = load_config(None, [*overrides, "training.total_timesteps=512"])
    outcome = train(cfg2, dataset, tmp_path, resume=True, **common)  # type: ignore[arg-type]
    assert outcome.timesteps == 512
    second = load_checkpoint(tmp_path)
    assert type(second.model).__name__ == "MaskablePPO" and second.model.num_timesteps == 512
    assert second.vecnormalize is not None
    assert second.vecnormalize.obs_rms["market"].count > count + 200  # statistics continued, not restarted
