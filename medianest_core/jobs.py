"""Background work: the Dramatiq broker from settings, actors declared from plugin hooks, periodic tasks.

With no ``broker_url`` the broker is in-process: actors run in worker threads inside ``medianest serve`` and
nothing else is needed. With ``redis://`` or ``amqp://`` the same actors run in ``medianest worker`` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs
import structlog

from medianest_core.settings import Settings
from medianest_core.types import ActorSpec, HealthResult, HealthState, PeriodicTask

if TYPE_CHECKING:
    import dramatiq
    from redis.asyncio import Redis

    from medianest_core.jobrunner import JobInfo, JobRunner

log = structlog.get_logger("medianest.jobs")


@attrs.define
class Jobs:
    """The broker of one process, its declared actors and, for the in-process broker, its worker."""

    broker: dramatiq.Broker
    kind: str
    actors: dict[str, Any] = attrs.field(factory=dict)
    worker: Any = None
    runner: JobRunner | None = None

    @property
    def external(self) -> bool:
        return self.kind != "in-process"

    async def submit(self, actor: str, payload: dict[str, Any] | None = None, owner_id: int | None = None) -> int:
        """Record a job for ``actor`` (``"<plugin>.<name>"``), queue it, and return its id; its state and
        progress are then published as ``job.updated`` events to its owner."""
        assert self.runner is not None
        return await self.runner.submit(actor, payload, owner_id)

    async def get(self, job_id: int) -> JobInfo | None:
        """The job's state, progress, detail and error as recorded now (a :class:`JobInfo`), or ``None`` when
        there is no job with that id. Check ``owner_id`` before showing a job to someone."""
        assert self.runner is not None
        return await self.runner.get(job_id)

    async def cancel(self, job_id: int) -> bool:
        """Cancel a queued or running job (a running one stops at its next progress report)."""
        assert self.runner is not None
        return await self.runner.cancel(job_id)


def create_broker(settings: Settings) -> Jobs:
    """The broker that ``broker_url`` names; nothing connects until it is used."""
    url = settings.broker_url
    if url is None:
        from dramatiq.brokers.stub import StubBroker

        return Jobs(broker=StubBroker(), kind="in-process")
    if url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        return Jobs(broker=cast("Any", RedisBroker)(url=str(url), namespace="medianest"), kind="redis")
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return Jobs(broker=RabbitmqBroker(url=str(url)), kind="rabbitmq")


def declare_actors(jobs: Jobs, plugin: str, specs: Sequence[ActorSpec]) -> list[str]:
    """Create the Dramatiq actors of one plugin on the broker; returns their full names. Each actor takes a
    job id; the job runner records its state, and retries it itself (Dramatiq's own retries stay off)."""
    import dramatiq

    assert jobs.runner is not None
    names = []
    for spec in specs:
        name = f"{plugin}.{spec.name}"
        if name in jobs.actors:
            raise ValueError(f"actor {name!r} is declared twice")
        decorate = dramatiq.actor(
            actor_name=name,
            queue_name=spec.queue,
            broker=jobs.broker,
            time_limit=int(spec.time_limit * 1000),
            max_retries=0,
        )
        jobs.actors[name] = decorate(jobs.runner.actor_function(name, spec))
        names.append(name)
    return names


def start_embedded_worker(jobs: Jobs, threads: int = 4) -> None:
    """Run the actors in threads of this process; only for the in-process broker."""
    if jobs.external or jobs.worker is not None:
        return
    import dramatiq

    jobs.worker = dramatiq.Worker(jobs.broker, worker_threads=threads, worker_timeout=100)
    jobs.worker.start()


def shutdown_jobs(jobs: Jobs, timeout: float = 10.0) -> None:
    """Stop the in-process worker, if any, letting running actors finish within ``timeout``; close the broker."""
    if jobs.worker is not None:
        jobs.worker.stop(timeout=int(timeout * 1000))
        jobs.worker = None
    jobs.broker.close()


def _ping(jobs: Jobs) -> None:
    broker: Any = jobs.broker
    if jobs.kind == "redis":
        broker.client.ping()
    elif jobs.kind == "rabbitmq":
        import pika  # type: ignore[import-untyped]

        params = broker.parameters
        params = params[0] if isinstance(params, list) else params
        params.socket_timeout = 3
        params.blocked_connection_timeout = 3
        pika.BlockingConnection(params).close()


async def broker_health(jobs: Jobs, timeout: float = 3.0) -> HealthResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            await asyncio.to_thread(_ping, jobs)
    except TimeoutError:
        return HealthResult(HealthState.DOWN, f"{jobs.kind} broker did not answer within {timeout:g} s")
    except Exception as exc:
        return HealthResult(HealthState.DOWN, f"{jobs.kind} broker: {type(exc).__name__}: {exc or 'cannot connect'}")
    return HealthResult(HealthState.UP, f"{jobs.kind} broker", (time.perf_counter() - started) * 1000)


class Scheduler:
    """Runs each periodic task once per interval across all processes.

    Every process runs the loop; a Redis key set with NX and a lifetime of the interval decides which process
    does a given round. Without Redis there is one process, and the lock is trivially its own.
    """

    GRACE: float = 10.0
    """Seconds :meth:`stop` lets a round under way finish (a database write, a call to a service) before it
    cancels it."""

    def __init__(self, redis: Redis | None = None) -> None:
        self.redis = redis
        self.tasks: list[asyncio.Task[None]] = []
        self._plugin_of: dict[asyncio.Task[None], str] = {}
        self._running: set[asyncio.Task[None]] = set()  # loops in the middle of a round
        self._ending: set[asyncio.Task[None]] = set()  # loops asked to stop: they start no new round

    async def _claim(self, name: str, interval: float) -> bool:
        if self.redis is None:
            return True
        slot = int(time.time() // interval)
        key = f"medianest:periodic:{name}:{slot}"
        return bool(await self.redis.set(key, "1", nx=True, px=max(int(interval * 1000), 1000)))

    async def _loop(self, name: str, task: PeriodicTask) -> None:
        me = asyncio.current_task()
        assert me is not None
        while me not in self._ending:
            started = time.monotonic()
            try:
                if await self._claim(name, task.interval):
                    self._running.add(me)
                    try:
                        await task.run()
                    finally:
                        self._running.discard(me)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("periodic_task_failed", task=name, error=f"{type(exc).__name__}: {exc}")
            if me in self._ending:
                return
            await asyncio.sleep(max(task.interval - (time.monotonic() - started), 0.05))

    def start(self, plugin: str, tasks: Sequence[PeriodicTask]) -> None:
        for task in tasks:
            name = f"{plugin}.{task.name}"
            made = asyncio.create_task(self._loop(name, task), name=f"periodic:{name}")
            self.tasks.append(made)
            self._plugin_of[made] = plugin

    async def stop(self, plugin: str | None = None, grace: float | None = None) -> None:
        """Stop the periodic tasks of ``plugin`` (its settings changed), or all of them. A round under way may finish
        first (``grace`` seconds at most, :attr:`GRACE` by default): one cut short in the middle of a database write
        could leave its transaction open; waiting loops stop at once."""
        stopping = [task for task in self.tasks if plugin is None or self._plugin_of.get(task) == plugin]
        self._ending.update(stopping)
        for task in stopping:
            if task not in self._running:
                task.cancel()
        if stopping:
            await asyncio.wait(stopping, timeout=self.GRACE if grace is None else grace)
        for task in stopping:
            task.cancel()
        for task in stopping:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks[:] = [task for task in self.tasks if task not in stopping]
        for task in stopping:
            self._plugin_of.pop(task, None)
            self._ending.discard(task)
