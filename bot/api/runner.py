"""The job runner: launches queued jobs as trainer processes, tails their events and turns them into state.

Status truth: a job is ``running`` only after the trainer's ``started`` event; a process that exits without a
terminal event is ``failed`` with its exit code and last output lines; a trainer silent for ``stall_timeout_s``
(no event, no heartbeat) is killed and ``failed`` as stalled; a server stop or restart marks jobs ``interrupted``.
Every state change is committed in one transaction with the event that announces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.api.db import Job, JobStatus
from bot.api.evaluation_request import ResolvedEvaluation
from bot.api.event_mapping import apply_event, finalize
from bot.api.events import EventHub
from bot.api.job_kinds import job_kind
from bot.api.job_request import JobRequestError, ResolvedJob
from bot.api.job_store import JobStore
from bot.api.redaction import ContentRedactor
from bot.api.settings import ApiSettings
from bot.api.tailer import EventTailer, LineTailer
from bot.api.trainer_process import AdoptedProcess, TrainerHandle, TrainerProcess
from bot.api.tune_request import ResolvedTune
from bot.config import load_config
from bot.errors import ConfigError
from bot.training import (
    CompletedEvent,
    FailedEvent,
    HeartbeatEvent,
    ProgressEvent,
    TerminalEvent,
    TrainerEvent,
    UnknownEvent,
)

logger = logging.getLogger(__name__)

class JobStateError(RuntimeError):
    """The job exists but is in a state that does not allow the request (HTTP 409)."""


@dataclass(slots=True)
class _Active:
    """A trainer process (launched here, or adopted from a previous server) and the readers of its files."""

    job_id: str
    process: TrainerHandle
    events: EventTailer
    output: LineTailer
    last_seen: float  # time.monotonic() of the last line read from its events file (or of the launch)
    terminal: TerminalEvent | None = None
    kill_at: float | None = None
    stalled_s: float | None = None
    restarted: bool = False
    redact: ContentRedactor = field(default_factory=ContentRedactor)


def events_path(jobs_dir: Path, job: Job) -> Path:
    """The events file of the job's current attempt."""
    return jobs_dir / job.id / f"events-{job.attempt}.jsonl"


class JobRunner:
    """Supervise trainer processes from a background task; safe to call from request handlers.

    :param settings: paths, limits and the trainer command.
    :param store: the job tables.
    :param hub: where events are published.
    """

    def __init__(self, settings: ApiSettings, store: JobStore, hub: EventHub) -> None:
        self._settings = settings
        self._store = store
        self._hub = hub
        self._lock = threading.RLock()
        self._active: dict[str, _Active] = {}
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop_ref: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt jobs a previous server left running (without waiting for them), then start supervising."""
        self._wake = asyncio.Event()
        self._loop_ref = asyncio.get_running_loop()
        await asyncio.to_thread(self.recover)
        self._task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Stop every trainer (SIGTERM: it checkpoints), wait up to the grace period, mark them interrupted."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._stop_all)

    def wake(self) -> None:
        """Run a supervision pass now (after a submit, cancel or resume); callable from any thread."""
        loop = self._loop_ref
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # the supervisor must outlive any single bad job; the error is logged with traceback
                logger.exception("Job runner pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_interval_s)
            self._wake.clear()

    def tick(self) -> None:
        """One supervision pass: pump every active process, then launch queued jobs into free slots."""
        with self._lock:
            for active in list(self._active.values()):
                self._pump(active)
            if self._stopping:
                return
            free = self._settings.max_concurrent_jobs - len(self._active)
            for job in self._store.queued()[: max(0, free)]:
                self._launch(job)

    # -- requests -------------------------------------------------------------------------------------------------

    def submit(self, resolved: ResolvedJob) -> Job:
        """Queue a new training job (status ``accepted``)."""
        return self._enqueue(
            kind="train", params={}, algo=resolved.algo, workers=resolved.workers, seed=resolved.seed,
            symbol=resolved.symbol, timeframe=resolved.timeframe, config_name=resolved.config_name,
            overrides=list(resolved.overrides), total_timesteps=resolved.timesteps,
        )

    def submit_evaluation(self, resolved: ResolvedEvaluation) -> Job:
        """Queue an evaluation of a run folder's checkpoint (status ``accepted``); one step, done at completion."""
        return self._enqueue(
            kind="evaluate", params=resolved.params(), algo=resolved.algo, workers=1, seed=resolved.seed,
            symbol=resolved.symbol, timeframe=resolved.timeframe, config_name=f"{resolved.run_id}/config.yaml",
            overrides=[], total_timesteps=1,
        )

    def submit_tune(self, resolved: ResolvedTune) -> Job:
        """Queue a hyperparameter search (status ``accepted``); its trials arrive as ``tune.trial`` events."""
        job = resolved.job
        return self._enqueue(
            kind="tune", params=resolved.params, algo=job.algo, workers=job.workers, seed=job.seed,
            symbol=job.symbol, timeframe=job.timeframe, config_name=job.config_name, overrides=list(job.overrides),
            total_timesteps=resolved.total_timesteps,
        )

    def _enqueue(self, **fields: Any) -> Job:
        now = time.time()
        job = Job(id=uuid.uuid4().hex[:12], status=JobStatus.ACCEPTED, created_at=now, updated_at=now, queued_at=now,
                  timesteps=0, metrics={}, attempt=1, cancel_requested=False, events_offset=0, **fields)
        self._hub.publish("job.accepted", job.id, {"attempt": 1, "total_timesteps": job.total_timesteps,
                                                   "kind": job.kind}, apply=lambda session: session.add(job))
        logger.info("Accepted job %s (%s, %s, %d timesteps, config %s)", job.id, job.kind, job.algo,
                    job.total_timesteps, job.config_name)
        self.wake()
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once; kill a trainer still starting (it has nothing to save yet); ask a running
        one to checkpoint and stop (SIGTERM and SIGCONT, SIGKILL after the grace period).

        :raises KeyError: unknown job.
        :raises JobStateError: the job already finished.
        """
        with self._lock:
            job = self._get(job_id)
            if job.status.is_terminal:
                raise JobStateError(f"job {job_id} is already {job.status.value}; only accepted or running jobs"
                                    " can be cancelled")
            active = self._active.get(job_id)
            if active is None:
                return self._commit(job_id, "training.cancelled", {"reason": "cancelled before the trainer started"},
                                    {"status": JobStatus.CANCELLED, "finished_at": time.time(),
                                     "cancel_requested": True})
            job = self._store.update(job_id, cancel_requested=True)
            if job.status == JobStatus.ACCEPTED:
                active.process.kill()
                logger.info("Cancelling job %s: trainer pid %d killed during start-up", job_id, active.process.pid)
            else:
                active.process.terminate()
                deadline = time.monotonic() + self._settings.cancel_grace_s
                active.kill_at = min(active.kill_at or deadline, deadline)
                logger.info("Cancelling job %s: SIGTERM sent to trainer pid %d", job_id, active.process.pid)
        self.wake()
        return job

    def resume(self, job_id: str, timesteps: int | None = None) -> Job:
        """Queue an interrupted, failed or cancelled job again, continuing from its run folder.

        :param job_id: the job.
        :param timesteps: a new total budget (more than the timesteps done); ``None`` keeps the job's.
        :raises KeyError: unknown job.
        :raises JobStateError: the job is not stopped, has no checkpoint, or ``timesteps`` is already reached.
        """
        with self._lock:
            job = self._get(job_id)
            if not job_kind(job).resumable:
                raise JobStateError(f"job {job_id} is a {job.kind} job, which cannot be resumed; start a new one")
            resumable = (JobStatus.INTERRUPTED, JobStatus.FAILED, JobStatus.CANCELLED)
            if job.status not in resumable:
                raise JobStateError(f"job {job_id} is {job.status.value}; only interrupted, failed or cancelled jobs"
                                    " can be resumed")
            if not job.run_dir or not Path(job.run_dir).is_dir():
                raise JobStateError(f"job {job_id} has no checkpoint to resume from (run folder {job.run_dir!r} is"
                                    " missing); start a new job instead")
            if not Path(job.run_dir).resolve().is_relative_to(self._settings.checkpoint_dir.resolve()):
                raise JobStateError(f"job {job_id}'s run folder {job.run_dir} is outside the checkpoint folder"
                                    f" {self._settings.checkpoint_dir}; it cannot be resumed through the API")
            if timesteps is not None and job.kind == "tune":
                raise JobStateError(f"job {job_id} is a tune job: its budget is set per trial; resume it without"
                                    " timesteps")
            total = job.total_timesteps if timesteps is None else timesteps
            if total <= job.timesteps:
                raise JobStateError(f"job {job_id} has done {job.timesteps} timesteps already; resume with a total"
                                    f" above that (got timesteps={total})")
            job = self._commit(
                job_id, "job.accepted", {"attempt": job.attempt + 1, "resume_from": job.run_dir},
                {"status": JobStatus.ACCEPTED, "attempt": job.attempt + 1, "resume_from": job.run_dir, "error": None,
                 "total_timesteps": total, "exit_code": None, "finished_at": None, "cancel_requested": False,
                 "pid": None, "queued_at": time.time(), "events_offset": 0},
            )
        self.wake()
        return job

    def _get(self, job_id: str) -> Job:
        job = self._store.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def _commit(self, job_id: str, message_type: str, data: dict[str, Any], fields: dict[str, Any],
                metric: bool = False) -> Job:
        """Publish an event and apply the job change it announces in one transaction; the updated job."""
        updated: list[Job] = []

        def apply(session: Session) -> None:
            updated.append(self._store.update_in(session, job_id, **fields))
            if metric:
                self._store.add_metric_in(session, job_id, data["time"], data["timesteps"], data["fps"],
                                          data["metrics"])

        self._hub.publish(message_type, job_id, data, apply=apply)
        return updated[0]

    # -- supervision ----------------------------------------------------------------------------------------------

    def redactor(self, job: Job) -> ContentRedactor:
        """Cuts the job's data file content out of its error and output (see :mod:`bot.api.redaction`)."""
        try:
            cfg = load_config(job_kind(job).config_path(job, self._settings), job.overrides)
        except (ConfigError, JobRequestError) as e:  # the trainer will report it; there is no data file to protect then
            logger.debug("Job %s: no data file to redact (%s)", job.id, e)
            return ContentRedactor()
        path = cfg.data.path
        return ContentRedactor.for_file((self._settings.workdir / path).resolve() if path else None)

    def _launch(self, job: Job) -> None:
        job_dir = self._settings.jobs_dir / job.id
        job_dir.mkdir(parents=True, exist_ok=True)
        events = events_path(self._settings.jobs_dir, job)
        events.unlink(missing_ok=True)
        output = job_dir / "output.log"
        output_tail = LineTailer(output, start_at_end=True)
        try:
            argv = job_kind(job).argv(job, self._settings, events)
            process = TrainerProcess.start(argv, self._settings.workdir, output)
        except (OSError, JobRequestError) as e:
            error = f"could not start the trainer: {e}"
            self._commit(job.id, "training.failed", {"error": error, "exit_code": None},
                         {"status": JobStatus.FAILED, "error": error, "finished_at": time.time()})
            logger.error("Job %s failed to launch: %s", job.id, e)
            return
        self._store.update(job.id, pid=process.pid, events_offset=0)
        self._active[job.id] = _Active(job.id, process, EventTailer(events), output_tail, time.monotonic(),
                                       redact=self.redactor(job))
        self._store.append_logs(job.id, [f"[api] attempt {job.attempt}: pid {process.pid}: {' '.join(argv)}"])

    def _pump(self, active: _Active) -> None:
        ended = active.process.exited()
        # read before judging silence: events written while this server was busy are not a stall
        for event, end in active.events.read_positioned(final=ended):
            active.last_seen = time.monotonic()
            self._on_event(active, event, end)
        self._store.append_logs(active.job_id, [active.redact(line) for line in active.output.read(final=ended)])
        if ended:
            self._finish(active)
            return
        now = time.monotonic()
        if active.kill_at is not None and now > active.kill_at:
            logger.warning("Trainer pid %d of job %s ignored SIGTERM; killing it", active.process.pid, active.job_id)
            active.process.kill()
            active.kill_at = None
        silent_s = now - active.last_seen
        if active.stalled_s is None and silent_s > self._settings.stall_timeout_s:
            active.stalled_s = silent_s
            logger.error("Trainer pid %d of job %s wrote no event or heartbeat for %.0f s: killing its process"
                         " group as stalled", active.process.pid, active.job_id, silent_s)
            active.process.kill()

    def _on_event(self, active: _Active, event: TrainerEvent | UnknownEvent, end: int) -> None:
        if isinstance(event, HeartbeatEvent):
            return
        job = self._get(active.job_id)
        offset: int | None = end
        if isinstance(event, TerminalEvent):
            if isinstance(event, FailedEvent):
                event = event.model_copy(update={"error": active.redact(event.error)})
            active.terminal = event
            if active.kill_at is None:
                active.kill_at = time.monotonic() + self._settings.cancel_grace_s
            if not isinstance(event, CompletedEvent) or event.timesteps <= job.timesteps:
                return
            # progress events come on a timer, so a short run may end before its last one: report the end too
            event = ProgressEvent(time=event.time, timesteps=event.timesteps, total_timesteps=job.total_timesteps,
                                  fps=job.fps, metrics=job.metrics or {})
            offset = None  # the terminal event itself is applied at exit: a restart must read it again
        update = apply_event(job, event)
        if update is None:
            return
        fields, message_type, data = update
        if offset is not None:
            fields = {**fields, "events_offset": offset}
        self._commit(job.id, message_type, data, fields, metric=message_type == "training.progress")

    def _finish(self, active: _Active) -> None:
        self._active.pop(active.job_id, None)
        active.process.kill_leftovers()
        job = self._get(active.job_id)
        code = active.process.returncode
        tail = self._store.tail_logs(job.id, 20)
        fields, message_type, data = finalize(job, active.terminal, code, tail, stopping=self._stopping,
                                              restarted=active.restarted, stalled_s=active.stalled_s)
        self._commit(job.id, message_type, data,
                     {"pid": None, "exit_code": code, "finished_at": time.time(), **fields})
        logger.info("Job %s ended: %s (exit status %s)", job.id, message_type, code)

    def _stop_all(self) -> None:
        with self._lock:
            for active in self._active.values():
                active.process.terminate()
            deadline = time.monotonic() + self._settings.cancel_grace_s
            while self._active and time.monotonic() < deadline:
                for active in list(self._active.values()):
                    self._pump(active)
                time.sleep(0.05)
            for active in list(self._active.values()):
                active.process.kill()
                while not active.process.exited():
                    time.sleep(0.05)
                self._pump(active)

    def recover(self) -> None:
        """Take over jobs a previous server left launched, without waiting for any of them.

        Their events files are read on from the offset last applied, so progress written while no server ran
        reaches the metric series. A trainer still running is asked to checkpoint and stop (SIGTERM; SIGKILL after
        the grace period) and supervised like any other until it exits; the job then ends ``interrupted`` (or as
        its events say: completed, failed, or cancelled when a cancel was pending).
        """
        now = time.monotonic()
        for job in self._store.stale():
            events = events_path(self._settings.jobs_dir, job)
            process = AdoptedProcess.find(job.pid, str(events)) if job.pid is not None else AdoptedProcess(None, -1)
            output = LineTailer(self._settings.jobs_dir / job.id / "output.log", start_at_end=True)
            active = _Active(job.id, process, EventTailer(events, offset=job.events_offset), output, now,
                             restarted=True, redact=self.redactor(job))
            if not process.exited():
                logger.warning("Job %s: stopping trainer pid %d left running by a previous server", job.id,
                               process.pid)
                process.terminate()
                active.kill_at = now + self._settings.cancel_grace_s
            self._active[job.id] = active
