"""``GET /api/models`` (the model kinds with their config keys, and real trained runs) and the ``models`` block of
``/api/sync/status`` over the job store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import get_args

from fastapi.testclient import TestClient

from bot.api.models import MODEL_KINDS
from bot.cli import main
from bot.config import TrainingConfig
from tests.api.helpers import submit, wait_status
from tests.support.training import set_args
from tests.training.test_supervised import RF

ClientFactory = Callable[..., TestClient]


def test_every_algorithm_has_a_model_kind() -> None:
    assert set(MODEL_KINDS) == set(get_args(TrainingConfig.model_fields["algo"].annotation))


def test_models_lists_the_kinds_with_their_keys_and_the_trained_runs(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints"
    overrides = [*RF, "training.supervised.n_estimators=5", f"training.checkpoint_dir={checkpoints}", "run_name=rf1"]
    assert main(["train", "--no-progress", *set_args(overrides)]) == 0
    body = make_client().get("/api/models").json()
    by_algo = {a["algo"]: a for a in body["algorithms"]}
    assert by_algo["recurrent_ppo"]["kind"] == "LSTM" and by_algo["rf"]["kind"] == "RF"
    assert by_algo["rf"]["family"] == "supervised" and by_algo["ddqn"]["family"] == "rl"
    lstm_keys = by_algo["recurrent_ppo"]["keys"]
    assert lstm_keys["training.recurrent.lstm_hidden_size"]["default"] == 64
    assert "training.ppo.n_steps" in lstm_keys and "training.dqn.buffer_size" not in lstm_keys
    rf_keys = by_algo["rf"]["keys"]
    assert rf_keys["training.supervised.n_estimators"]["default"] == 200
    assert rf_keys["training.supervised.n_estimators"]["description"]
    assert [e["kind"] for e in body["extractors"]] == ["mlp", "cnn1d", "lstm", "transformer"]
    assert body["runs_total"] == 1
    (run,) = body["runs"]
    assert run["run_id"] == "rf1" and run["kind"] == "RF" and run["algorithm"] == "rf"
    assert run["checkpoints"] == ["latest", "best"] and run["timesteps"] == 5
    assert isinstance(run["validation"]["sharpe"], float)
    assert make_client().get("/api/models", params={"runs": 501}).status_code == 422


def test_sync_status_has_the_latest_job_of_each_model_kind(make_client: ClientFactory) -> None:
    client = make_client()
    models = client.get("/api/sync/status").json()["models"]
    assert set(models) == set(MODEL_KINDS.values()) and all(m["status"] == "none" for m in models.values())
    first = submit(client, algo="rf")
    wait_status(client, first, "completed")
    second = submit(client, algo="rf")
    lstm = submit(client, algo="recurrent_ppo")
    for job in (second, lstm):
        wait_status(client, job, "completed")
    models = client.get("/api/sync/status").json()["models"]
    assert models["RF"]["job_id"] == second and models["LSTM"]["job_id"] == lstm  # the latest job of each kind
    assert models["RF"]["status"] == "completed" and models["RF"]["progress"] == 1.0
    assert models["LSTM"]["last_metric"] == {"name": "rollout/ep_rew_mean", "value": 0.5}
    assert models["PPO"] == {"status": "none", "job_id": None}
