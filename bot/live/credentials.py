"""Bybit API credentials from the environment or a ``.env`` file; never logged, never written anywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import AuthenticationError

KEY_VAR = "BYBIT_API_KEY"
SECRET_VAR = "BYBIT_API_SECRET"


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair; ``repr`` shows neither value."""

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (``#`` comments, optional quotes, ``export`` prefix); {} when absent."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().removeprefix("export ").strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load_credentials(env_file: Path = Path(".env"), environ: dict[str, str] | None = None) -> Credentials:
    """The key pair from ``BYBIT_API_KEY`` / ``BYBIT_API_SECRET`` (environment first, then ``env_file``).

    :raises AuthenticationError: when either is missing, naming the variables and where to put them.
    """
    env = dict(os.environ if environ is None else environ)
    from_file = read_env_file(env_file)
    key = env.get(KEY_VAR) or from_file.get(KEY_VAR, "")
    secret = env.get(SECRET_VAR) or from_file.get(SECRET_VAR, "")
    if not key or not secret:
        missing = [name for name, value in ((KEY_VAR, key), (SECRET_VAR, secret)) if not value]
        raise AuthenticationError(
            f"{' and '.join(missing)} not set; export them or put them in {env_file} (see docs/PAPER_TRADING.md),"
            " or use --dry-run, which needs no key"
        )
    return Credentials(key, secret)
