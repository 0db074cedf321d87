"""Training-control API: FastAPI app, SQLite job store, trainer job runner, WebSocket events, dashboard."""

from bot.api.app import create_app
from bot.api.db import JobStatus
from bot.api.settings import ApiSettings

__all__ = ["ApiSettings", "JobStatus", "create_app"]
