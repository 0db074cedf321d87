"""The FastAPI app factory: job store, event hub, job runner, routers and the static dashboard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from bot import __version__
from bot.api.db import make_engine, make_session_factory
from bot.api.deps import AppState
from bot.api.events import EventHub
from bot.api.job_store import JobStore
from bot.api.routers import system, training, ws
from bot.api.runner import JobRunner
from bot.api.settings import ApiSettings

STATIC_DIR = resources.files("bot.api").joinpath("static")


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
    app.include_router(training.router)
    app.include_router(system.router)
    app.include_router(ws.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(STATIC_DIR.joinpath("index.html")))

    return app
