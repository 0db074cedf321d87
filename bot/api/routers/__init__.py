"""HTTP and WebSocket routers of the control API."""

from bot.api.routers import runs, system, training, ws

__all__ = ["runs", "system", "training", "ws"]
