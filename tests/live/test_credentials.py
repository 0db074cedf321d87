"""API keys come from the environment or a .env file, and never show in a repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import AuthenticationError
from bot.live.credentials import load_credentials, read_env_file


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# keys\nexport BYBIT_API_KEY='file-key'\nBYBIT_API_SECRET=\"file-secret\"\n\nJUNK\n")
    creds = load_credentials(env, environ={"BYBIT_API_KEY": "env-key"})
    assert (creds.api_key, creds.api_secret) == ("env-key", "file-secret")
    assert "file-secret" not in repr(creds) and "env-key" not in repr(creds)
    assert read_env_file(tmp_path / "absent") == {}


def test_missing_secret_names_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match=r"BYBIT_API_SECRET not set; .*\.env.*--dry-run"):
        load_credentials(tmp_path / ".env", environ={"BYBIT_API_KEY": "k"})
