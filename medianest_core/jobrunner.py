"""Jobs recorded in the database: submitted with an id, run by a Dramatiq actor, their state and progress kept
and published.

The database is the source of truth. A message carries only the job's id; running it again does nothing once
the job has finished, and a job another live process is running is left to it. Retries are decided here, from
the actor's ``max_retries``, so the record always says what happened. At start-up, jobs left "running" by a
process that stopped are queued again, or failed with the reason once their attempts are spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs
import structlog
from sqlalchemy import select, update

from medianest_core.events import JobUpdated
from medianest_core.models import Job
from medianest_core.plugins import describe_exception
from medianest_core.types import ActorSpec

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.jobs")

T = TypeVar("T")
PROGRESS_EVERY: Final = 0.25


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED: Final = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class JobCancelled(Exception):
    """Raised in an actor by :meth:`JobContext.progress` once the job has been cancelled: let it propagate."""


@attrs.frozen
class JobInfo:
    """What is known of one job, as :meth:`medianest_core.jobs.Jobs.get` answers it."""

    job_id: int
    actor: str
    """The actor's full name, ``"<plugin>.<name>"``."""
    owner_id: int | None
    """Whose job it is (``None`` for a job nobody owns)."""
    state: JobState
    progress: float
    """From 0 to 1; 1 once the job has succeeded."""
    detail: dict[str, Any]
    """What the actor last reported with its progress (``job.progress(0.5, done=3, total=6)``)."""
    error: str | None
    """Why the last attempt failed (``"ValueError: …"``), or ``None``."""
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        """Whether the job has ended: succeeded, failed or cancelled."""
        return self.state in FINISHED


def _info(job: Job) -> JobInfo:
    return JobInfo(
        job_id=job.id,
        actor=job.actor,
        owner_id=job.owner_id,
        state=JobState(job.state),
        progress=job.progress,
        detail=dict(job.detail or {}),
        error=job.error,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def _event(job: Job) -> JobUpdated:
    return JobUpdated(
        job_id=job.id,
        actor=job.actor,
        owner_id=job.owner_id,
        state=job.state,
        progress=job.progress,
        detail=dict(job.detail or {}),
        error=job.error,
    )


@attrs.define(eq=False)
class JobContext:
    """What an actor's function receives: the job's id, owner and payload, and :meth:`progress`."""

    runner: JobRunner
    job_id: int
    owner_id: int | None
    payload: dict[str, Any]
    _last: float = 0.0

    def progress(self, fraction: float, **detail: Any) -> None:
        """Report progress (0 to 1) with details, from a synchronous actor; published a few times a second.
        Raises :class:`JobCancelled` once the job has been cancelled, so the work stops within a moment."""
        if self._due(fraction) and not self.runner.call(self.runner.report(self.job_id, fraction, detail)):
            raise JobCancelled(self.job_id)

    async def aprogress(self, fraction: float, **detail: Any) -> None:
        """The same, from a coroutine actor."""
        if self._due(fraction) and not await self.runner.report(self.job_id, fraction, detail):
            raise JobCancelled(self.job_id)

    def _due(self, fraction: float) -> bool:
        now = time.monotonic()
        if fraction < 1 and now - self._last < PROGRESS_EVERY:
            return False
        self._last = now
        return True


class JobRunner:
    """The jobs of one process: submitting, running (in the broker's threads), reporting, recovering."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.specs: dict[str, ActorSpec] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        # A running job whose process has not beaten its heart for this long is taken to be orphaned.
        self.stale_after = timedelta(seconds=runtime.settings.job_heartbeat_timeout)

    # -- the event loop side -----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._heartbeat = asyncio.create_task(self._beat(), name="jobs:heartbeat")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat

    def call(self, coro: Any) -> Any:
        """Run a coroutine on this process's loop from a broker thread, and wait for it."""
        assert self.loop is not None, "JobRunner.start() first"
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    async def submit(self, actor: str, payload: dict[str, Any] | None = None, owner_id: int | None = None) -> int:
        """Record a job for ``actor`` (``"<plugin>.<name>"``) and queue it; returns its id."""
        if actor not in self.runtime.jobs.actors:
            raise KeyError(f"no actor named {actor!r}")
        async with self.runtime.sessions.begin() as db:
            job = Job(actor=actor, owner_id=owner_id, payload=dict(payload or {}), state=JobState.QUEUED.value)
            db.add(job)
            await db.flush()
            event = _event(job)
        await self.runtime.events.publish(event)
        self.runtime.jobs.actors[actor].send(event.job_id)
        return event.job_id

    async def get(self, job_id: int) -> JobInfo | None:
        """The job's record as it is now, or ``None`` when there is no job with that id."""
        async with self.runtime.sessions() as db:
            job = await db.get(Job, job_id)
            return None if job is None else _info(job)

    async def _update(self, job_id: int, only_if: JobState | None = None, **values: Any) -> Job | None:
        async with self.runtime.sessions.begin() as db:
            job = await db.get(Job, job_id, with_for_update=True)
            if job is None or (only_if is not None and job.state != only_if.value):
                return None
            for key, value in values.items():
                setattr(job, key, value)
            event = _event(job)
        await self.runtime.events.publish(event)
        return job

    async def report(self, job_id: int, fraction: float, detail: dict[str, Any]) -> bool:
        """Record progress; ``False`` when the job is no longer running (it was cancelled)."""
        now = datetime.now(UTC)
        job = await self._update(
            job_id, only_if=JobState.RUNNING, progress=max(0.0, min(1.0, fraction)), detail=detail, heartbeat_at=now
        )
        return job is not None

    async def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job; a running one stops at its next progress report. ``False`` when
        the job had already finished."""
        async with self.runtime.sessions.begin() as db:
            job = await db.get(Job, job_id, with_for_update=True)
            if job is None or job.state in FINISHED:
                return False
            job.state = JobState.CANCELLED.value
            job.finished_at = datetime.now(UTC)
            job.heartbeat_at = None
            event = _event(job)
        await self.runtime.events.publish(event)
        return True

    async def claim(self, job_id: int) -> Job | None:
        """Mark the job running here, or ``None`` when there is nothing to do (finished, or live elsewhere)."""
        now = datetime.now(UTC)
        async with self.runtime.sessions.begin() as db:
            job = await db.get(Job, job_id, with_for_update=True)
            if job is None or job.state in FINISHED:
                return None
            fresh = job.heartbeat_at is not None and now - job.heartbeat_at < self.stale_after
            if job.state == JobState.RUNNING and job.worker != self.worker_id and fresh:
                return None
            job.state = JobState.RUNNING.value
            job.attempts += 1
            job.worker = self.worker_id
            job.started_at = job.started_at or now
            job.heartbeat_at = now
            job.error = None
            event = _event(job)
            claimed = Job(
                id=job.id, actor=job.actor, owner_id=job.owner_id, payload=dict(job.payload), attempts=job.attempts
            )
        await self.runtime.events.publish(event)
        return claimed

    async def finish(self, job_id: int, state: JobState, error: str | None = None) -> None:
        """End the attempt; a job cancelled meanwhile stays cancelled."""
        values: dict[str, Any] = {"state": state.value, "error": error, "heartbeat_at": None}
        if state in FINISHED:
            values["finished_at"] = datetime.now(UTC)
        if state is JobState.SUCCEEDED:
            values["progress"] = 1.0
        await self._update(job_id, only_if=JobState.RUNNING, **values)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.stale_after.total_seconds() / 4)
            try:
                async with self.runtime.sessions.begin() as db:
                    await db.execute(
                        update(Job)
                        .where(Job.state == JobState.RUNNING.value, Job.worker == self.worker_id)
                        .values(heartbeat_at=datetime.now(UTC))
                    )
            except Exception as exc:
                log.error("job_heartbeat_failed", error=f"{type(exc).__name__}: {exc}")

    async def recover(self, everything: bool) -> list[int]:
        """Queue again the jobs a stopped process left behind, or fail them once their attempts are spent.

        ``everything`` (the in-process broker, whose queue died with the process): every running and queued
        job; otherwise running jobs whose heartbeat is older than ``job_heartbeat_timeout``."""
        now = datetime.now(UTC)
        query = select(Job).where(Job.actor.in_(list(self.specs)))
        if everything:
            query = query.where(Job.state.in_([JobState.RUNNING.value, JobState.QUEUED.value]))
        else:
            cutoff = now - self.stale_after
            query = query.where(
                Job.state == JobState.RUNNING.value, (Job.heartbeat_at.is_(None)) | (Job.heartbeat_at < cutoff)
            )
        requeued: list[int] = []
        async with self.runtime.sessions.begin() as db:
            jobs = (await db.scalars(query.with_for_update())).all()
            events = []
            for job in jobs:
                spec = self.specs[job.actor]
                if job.state == JobState.RUNNING.value and job.attempts > spec.max_retries:
                    job.state = JobState.FAILED.value
                    job.error = "The process running it stopped, and its attempts are spent."
                    job.finished_at = now
                else:
                    job.state = JobState.QUEUED.value
                    requeued.append(job.id)
                job.heartbeat_at = None
                events.append(_event(job))
        for event in events:
            await self.runtime.events.publish(event)
        for job_id, event in zip(requeued, [e for e in events if e.state == JobState.QUEUED.value], strict=True):
            self.runtime.jobs.actors[event.actor].send(job_id)
        if events:
            log.info("jobs_recovered", requeued=requeued, failed=[e.job_id for e in events if e.state == "failed"])
        return requeued

    # -- the broker thread side ---------------------------------------------------------------------------------

    def actor_function(self, name: str, spec: ActorSpec) -> Callable[[int], None]:
        """The function Dramatiq runs for ``name``: it takes a job id and runs ``spec.fn`` with a context."""
        self.specs[name] = spec

        def run(job_id: int) -> None:
            job = self.call(self.claim(job_id))
            if job is None:
                return
            ctx = JobContext(self, job_id=job_id, owner_id=job.owner_id, payload=dict(job.payload))
            try:
                if inspect.iscoroutinefunction(spec.fn):
                    self.call(spec.fn(ctx))
                else:
                    spec.fn(ctx)
            except JobCancelled:
                log.info("job_cancelled", job_id=job_id, actor=name)
                return
            except Exception as exc:
                reason = describe_exception(exc)
                if job.attempts <= spec.max_retries:
                    delay = min(spec.max_backoff, spec.min_backoff * 2 ** (job.attempts - 1))
                    self.call(self._retry_later(name, job_id, reason))
                    self.runtime.jobs.actors[name].send_with_options(args=(job_id,), delay=int(delay * 1000))
                else:
                    self.call(self.finish(job_id, JobState.FAILED, reason))
                log.warning("job_failed", job_id=job_id, actor=name, attempt=job.attempts, error=reason)
                return
            except BaseException as exc:
                # Dramatiq's time limit interrupts the thread: the record says so before the thread ends.
                self.call(
                    self.finish(
                        job_id, JobState.FAILED, f"stopped: {type(exc).__name__} (time limit {spec.time_limit:g} s)"
                    )
                )
                raise
            self.call(self.finish(job_id, JobState.SUCCEEDED))

        run.__name__ = name.replace(".", "_")
        return run

    async def _retry_later(self, name: str, job_id: int, reason: str) -> None:
        await self._update(
            job_id, only_if=JobState.RUNNING, state=JobState.QUEUED.value, error=reason, heartbeat_at=None
        )
