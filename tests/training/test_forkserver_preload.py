"""The forkserver imports the env factory's module before it forks the workers, so they share it (worker memory)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

from bot.training.vec_env import forkserver_preload
from tests.support.toy_env import ToyEnvFactory

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: the forkserver reads its preload list once per process, and the test process may have one.
PROBE = """
import json
from bot.training.vec_env import ParallelVecEnv
from tests.training.preload_target import ImportPidFactory
venv = ParallelVecEnv(ImportPidFactory(), n_workers=2, n_envs_per_worker=1, start_method="forkserver")
try:
    print(json.dumps({"imported_by": venv.get_attr("imported_by"), "built_by": venv.get_attr("built_by")}))
finally:
    venv.close()
"""


def _init(worker_id: int) -> None:
    """A stand-in worker initialiser."""


def test_preload_names_the_modules_of_the_factory_and_the_initialiser() -> None:
    assert forkserver_preload(ToyEnvFactory(), _init) == ["bot.training.worker", "tests.support.toy_env", __name__]
    assert forkserver_preload(functools.partial(_init, worker_id=0), None) == ["bot.training.worker", __name__]


def test_preload_leaves_out_main_and_duplicates() -> None:
    def main_factory() -> None: ...

    main_factory.__module__ = "__main__"
    assert forkserver_preload(main_factory, ToyEnvFactory(), ToyEnvFactory()) == [
        "bot.training.worker",
        "tests.support.toy_env",
    ]


def test_workers_inherit_the_factory_module_from_the_forkserver() -> None:
    # a worker that imported the factory's module itself holds a private copy of it: 80 MB for the trainer's factory
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    pids = json.loads(done.stdout.splitlines()[-1])
    assert len(set(pids["built_by"])) == 2
    assert set(pids["imported_by"]).isdisjoint(pids["built_by"])
    assert len(set(pids["imported_by"])) == 1  # one forkserver imported it for both
