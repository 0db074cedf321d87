"""`bot tune --address` on a real 2-node Ray cluster on this machine: trials on both nodes, and the loss of a node.

``ray.cluster_utils.Cluster`` starts a head and a worker node (1 CPU each, small object stores); a watcher thread
removes the worker node once a trial running there has reported a checkpoint, and the experiment must still end with
every trial complete, the lost trial restarted on the head from its last checkpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from bot.cli import main
from bot.tune.trial import TRIAL_RECORD
from tests.tune.conftest import INTERVAL, trial_overrides, tune_argv, write_space

_STORE_BYTES = 80 * 1024**2


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    nodes = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": _STORE_BYTES, "include_dashboard": False},
    )
    nodes.add_node(num_cpus=1, object_store_memory=_STORE_BYTES)
    nodes.wait_for_nodes()
    yield nodes
    nodes.shutdown()


def _reported_on(experiment: Path, node_id: str) -> bool:
    """Whether a trial that runs on ``node_id`` has a checkpoint registered with Tune (its second one exists)."""
    for record_path in (experiment / "runs").glob(f"*/{TRIAL_RECORD}"):
        record = json.loads(record_path.read_text())
        trial_id = record_path.parent.name
        if record["nodes"][-1:] == [node_id] and list((experiment / trial_id).glob("checkpoint_000001")):
            return True
    return False


def test_trials_run_on_both_nodes_and_survive_the_loss_of_one(cluster: Cluster, tmp_path: Path) -> None:
    worker = cluster.list_all_nodes()[1]
    experiment = tmp_path / "tune_runs" / "cluster"
    removed = threading.Event()
    finished = threading.Event()

    def remove_worker_once_it_reported() -> None:
        while not finished.wait(0.05):
            if _reported_on(experiment, worker.node_id):
                cluster.remove_node(worker)
                removed.set()
                return

    watcher = threading.Thread(target=remove_worker_once_it_reported, daemon=True)
    watcher.start()
    space = write_space(tmp_path, "training.ppo.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}\n")
    argv = tune_argv(space, tmp_path / "tune_runs", "cluster", trial_overrides(tmp_path, 6 * INTERVAL),
                     "--trials", "2", "--scheduler", "fifo", "--address", cluster.address, "--max-failures", "3")
    try:
        assert main(argv) == 0
    finally:
        finished.set()
        watcher.join()
    assert removed.is_set(), "no trial reported from the worker node before the experiment ended"

    records = [json.loads(p.read_text()) for p in (experiment / "runs").glob(f"*/{TRIAL_RECORD}")]
    assert len(records) == 2
    nodes = {node for record in records for node in record["nodes"]}
    assert worker.node_id in nodes and len(nodes) == 2
    lost = next(r for r in records if worker.node_id in r["nodes"])
    assert lost["nodes"][-1] != worker.node_id  # restarted elsewhere ...
    assert lost["restores"] and lost["restores"][-1]["from_trial"] == lost["trial_id"]  # ... from its checkpoint
    assert lost["restores"][-1]["timesteps"] >= INTERVAL
    leaderboard = (experiment / "leaderboard.csv").read_text(encoding="utf-8").splitlines()
    assert len(leaderboard) == 3 and all(",ok," in line for line in leaderboard[1:])
    for record in records:
        manifest = json.loads((experiment / "runs" / record["trial_id"] / "manifest.json").read_text())
        assert manifest["timesteps"] >= 6 * INTERVAL
