"""The FastAPI app factory: job store, event hub, job runner, routers and the static dashboard."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from bot import __version__
from bot.api.db import make_engine, make_session_factory
from bot.api.deps import AppState
from bot.api.events import EventHub
from bot.api.guards import BodySizeLimit, TrustedHostGuard
from bot.api.job_store import JobStore
from bot.api.routers import models, runs, system, training, tune, ws
from bot.api.runner import JobRunner
from bot.api.settings import ApiSettings

STATIC_DIR = resources.files("bot.api").joinpath("static")


def _json_safe(value: Any) -> Any:
    # A body may carry NaN or Infinity (Python's JSON parser accepts them); the 422 reply quotes the input, and
    # strict JSON cannot encode them, which used to turn the reply into a 500.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for this class only
    detail = _json_safe(jsonable_encoder(exc.errors()))
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(settings: ApiSettings) -> FastAPI:
    """Build the app. Nothing starts until the ASGI lifespan runs (uvicorn, or ``TestClient`` as a context).

    On startup, jobs a previous server left running are marked ``interrupted`` and the runner starts;
    on shutdown, running trainers are stopped (they checkpoint) and marked ``interrupted``.

    :param settings: see :class:`~bot.api.settings.ApiSettings`.
    :return: the FastAPI application; its shared state is ``app.state.bot`` (:class:`~bot.api.deps.AppState`).
    """
    engine = make_engine(settings.db_path)
    sessions = make_session_factory(engine)
    store = JobStore(sessions)
    hub = EventHub(sessions)
    state = AppState(settings=settings, store=store, hub=hub, runner=JobRunner(settings, store, hub),
                     started_at=time.time())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.bind(asyncio.get_running_loop())
        state.started_at = time.time()
        await state.runner.start()
        try:
            yield
        finally:
            await state.runner.stop()
            hub.bind(None)
            engine.dispose()

    app = FastAPI(title="bot training control", version=__version__, lifespan=lifespan)
    app.state.bot = state
    app.add_exception_handler(RequestValidationError, _validation_error)
    # gzip innermost: the dashboard's first load (vendored chart libraries included) stays small on a phone
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    # the last added runs first: the Host check refuses foreign requests before the body is even read
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TrustedHostGuard, allowed=settings.trusted_hosts)
    app.include_router(training.router)
    app.include_router(system.router)
    app.include_router(ws.router)
    app.include_router(runs.router)
    app.include_router(models.router)
    app.include_router(tune.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC_DIR.joinpath("index.html")), headers={"Cache-Control": "no-cache"})

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> FileResponse:
        # served from the root so that its scope covers /dashboard and /api (a worker under /static/ could not)
        return FileResponse(str(STATIC_DIR.joinpath("sw.js")), media_type="text/javascript",
                            headers={"Cache-Control": "no-cache"})

    return app
