"""HTTP and WebSocket routers of the control API."""

from bot.api.routers import system, training, ws

__all__ = ["system", "training", "ws"]
