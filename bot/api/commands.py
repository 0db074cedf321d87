"""``python -m bot serve``: run the control API and dashboard with uvicorn."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
from pathlib import Path

import uvicorn

from bot.api.app import create_app
from bot.api.settings import ApiSettings
from bot.config import load_config
from bot.smartlog import command_logging

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    """Serve the API until interrupted (Ctrl+C stops running trainers with a checkpoint; they become interrupted).

    Without the token variable (``api.token_env``, default ``BOT_API_TOKEN``) a random token is generated for this
    session and printed, so the dashboard can be used at once; export the variable to keep a stable token.

    :param args: parsed ``serve`` arguments (``--config``, ``--set``, ``--host``, ``--port``, ``--db``).
    :return: the exit code.
    """
    cfg = load_config(args.config, args.overrides)
    env = cfg.api.token_env
    token = os.environ.get(env) or None
    if token is None:
        token = secrets.token_urlsafe(24)
        print(f"{env} is not set: generated a token for this session (paste it into the dashboard):\n  {token}\n"
              f"export {env}=<secret> before starting the server to keep a stable token.")
    settings = ApiSettings.from_config(cfg, token=token, workdir=Path.cwd(), db_path=args.db)
    host = args.host or settings.host
    port = args.port or settings.port
    if not _is_loopback(host):
        print(f"warning: binding to {host}: the API is reachable from other machines; keep {env} secret")
        if "*" not in settings.trusted_hosts:
            print(f"note: only requests naming {', '.join(settings.trusted_hosts)} in their Host header are answered;"
                  " add the name or address clients use to api.trusted_hosts")
    log_path = settings.log_path or settings.db_path.parent / "api_server.log"
    print(f"dashboard: http://{host}:{port}/dashboard  (job store {settings.db_path}, server log {log_path})")
    # one SmartLogger for the server (uvicorn's loggers propagate to it); trainers log into their own run folders
    with command_logging(cfg.logging, log_path.parent, log_path.name):
        # a client sends only small {"since": N} messages: cap WebSocket messages like request bodies
        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, ws_ping_interval=20.0,
                    ws_max_size=settings.max_body_bytes)
    return 0
