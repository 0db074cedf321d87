"""Request dependencies: the app's shared state, the bearer-token check of mutating endpoints, and the 422 of a
job request that cannot be used."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.api.events import EventHub
from bot.api.job_limits import JobRequestError
from bot.api.job_store import JobStore
from bot.api.runner import JobRunner
from bot.api.settings import ApiSettings


def invalid_field(error: JobRequestError, body: Any) -> RequestValidationError:
    """The 422 naming the body field a :class:`JobRequestError` is about, as FastAPI's own validation does."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", error.field), "msg": str(error), "input": getattr(body, error.field)}]
    )


_bearer = HTTPBearer(auto_error=False, description="the value of the server's token environment variable")


@dataclass(slots=True)
class AppState:
    """Everything the routers share, created by ``create_app``."""

    settings: ApiSettings
    store: JobStore
    hub: EventHub
    runner: JobRunner
    started_at: float


def get_state(request: Request) -> AppState:
    """The app state stored on ``app.state.bot``."""
    state: AppState = request.app.state.bot
    return state


def token_problem(settings: ApiSettings, presented: str | None) -> tuple[int, str] | None:
    """Why a presented token is refused, as (HTTP status, message), or ``None`` when it is valid.

    :param settings: holds the expected token and the name of its environment variable.
    :param presented: the token the client sent, if any.
    """
    env = settings.token_env
    if settings.token is None:
        return (
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the server has no API token, so mutating endpoints are disabled: set {env} in the server's environment"
            f" (e.g. export {env}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')), restart it,"
            " and send 'Authorization: Bearer <token>'",
        )
    if not presented:
        return (
            status.HTTP_401_UNAUTHORIZED,
            f"missing bearer token: send 'Authorization: Bearer <token>' with the value of {env} on the server",
        )
    if not secrets.compare_digest(presented.encode(), settings.token.encode()):
        return status.HTTP_401_UNAUTHORIZED, f"invalid bearer token: it does not match {env} on the server"
    return None


def require_token(
    state: Annotated[AppState, Depends(get_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency of every mutating endpoint.

    :raises HTTPException: 401 for a missing or wrong token, 503 when the server has none configured.
    """
    problem = token_problem(state.settings, credentials.credentials if credentials else None)
    if problem is not None:
        code, message = problem
        headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
        raise HTTPException(status_code=code, detail=message, headers=headers)


StateDep = Annotated[AppState, Depends(get_state)]
