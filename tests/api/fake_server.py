"""The control API on uvicorn as its own process, launching the fake trainer (for tests that kill the server -9).

Usage: ``python tests/api/fake_server.py '<json settings>'``; the JSON holds the ApiSettings fields the tests vary.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import uvicorn

from bot.api import ApiSettings, create_app
from bot.api.job_limits import JobLimits


def main() -> None:
    spec = json.loads(sys.argv[1])
    settings = ApiSettings(
        db_path=Path(spec["db_path"]),
        token=spec["token"],
        config_dir=Path(spec["config_dir"]),
        checkpoint_dir=Path(spec["checkpoint_dir"]),
        jobs_dir=Path(spec["jobs_dir"]),
        trainer_command=tuple(spec["trainer_command"]),
        workdir=Path(spec["workdir"]),
        poll_interval_s=0.05,
        cancel_grace_s=float(spec["cancel_grace_s"]),
        trusted_hosts=("127.0.0.1",),
        limits=JobLimits(max_workers=8),
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=int(spec["port"]), log_level="warning")


if __name__ == "__main__":
    main()
