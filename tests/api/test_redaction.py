"""The content of a job's data file never reaches the API's job error or output lines."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from bot.api.redaction import REDACTED, ContentRedactor
from tests.api.helpers import fake_command, submit, wait_status

SECRET = "root:x:0:0:TOPSECRET:/root:/bin/bash"


def test_first_lines_and_their_cells_are_cut_out_but_column_names_kept(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"{SECRET},open,password=hunter22\n1,2,3\n")
    redact = ContentRedactor.for_file(path)
    text = f"{path}: missing columns ['open', 'high']; found ['{SECRET}', 'open', 'password=hunter22']"
    assert redact(text) == f"{path}: missing columns ['open', 'high']; found ['{REDACTED}', 'open', '{REDACTED}']"
    assert redact("row 1: 1 > 2") == "row 1: 1 > 2"  # short cells are no secret and stay


def test_a_gzipped_file_is_read_decompressed(tmp_path: Path) -> None:
    path = tmp_path / "f.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write(f"{SECRET}\n")
    assert SECRET not in ContentRedactor.for_file(path)(f"found ['{SECRET}']")


def test_no_file_changes_nothing(tmp_path: Path) -> None:
    assert ContentRedactor.for_file(tmp_path / "missing.csv")("text") == "text"
    assert ContentRedactor.for_file(None)("text") == "text"


def test_a_job_error_and_output_never_quote_the_data_file(make_client: Callable[..., TestClient],
                                                          tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "leaky.csv").write_text(f"{SECRET},volume\n")
    client = make_client(trainer_command=fake_command("echo_data"))
    job_id = submit(client, overrides=["data.source=file", f"data.path={data / 'leaky.csv'}"])
    job = wait_status(client, job_id, "failed")
    assert "missing columns" in job["error"] and str(data / "leaky.csv") in job["error"]
    assert SECRET not in job["error"] and REDACTED in job["error"]
    lines = client.get(f"/api/training/jobs/{job_id}/logs", params={"tail": 100}).json()["lines"]
    assert any("missing columns" in line for line in lines)
    assert not any(SECRET in line for line in lines)
    events = client.app.state.bot.hub.since(0)  # type: ignore[attr-defined]
    assert not any(SECRET in str(m) for m in events)
