from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import install_fake_distribution

from medianest_core import ActorSpec, PeriodicTask, hookimpl, keys
from medianest_core.jobrunner import JobContext
from medianest_core.jobs import Scheduler, declare_actors
from medianest_core.models import Job
from medianest_core.testing import entry_point, sign_in, start_worker, stop_worker


class Worky:
    name = "worky"
    version = "0.1"

    def __init__(self) -> None:
        self.done: list[int] = []
        self.finished = threading.Event()
        self.ticks = 0
        self.failures_left = 0

    @hookimpl
    def actors(self) -> list[ActorSpec]:
        def double(job: JobContext) -> None:
            for step in range(1, 4):
                job.progress(step / 4, step=step)
                time.sleep(0.3)
            if self.failures_left:
                self.failures_left -= 1
                raise ConnectionError("the service hung up")
            self.done.append(int(job.payload["n"]) * 2)
            self.finished.set()

        async def pause(job: JobContext) -> None:
            await job.aprogress(0.5, where="halfway")
            await asyncio.sleep(float(job.payload.get("seconds", 0)))

        return [
            ActorSpec("double", double, time_limit=30, max_retries=1, min_backoff=0.1),
            ActorSpec("pause", pause, time_limit=30, max_retries=0),
        ]

    @hookimpl
    def periodic_tasks(self) -> list[PeriodicTask]:
        async def tick() -> None:
            self.ticks += 1

        return [PeriodicTask("tick", interval=0.05, run=tick)]


async def job_row(runtime: Any, job_id: int) -> Job:
    async with runtime.sessions() as db:
        job: Job | None = await db.get(Job, job_id)
        assert job is not None
        return job


async def wait_state(runtime: Any, job_id: int, *states: str, timeout: float = 15) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await job_row(runtime, job_id)
        if job.state in states:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is {job.state}, not {states}")


async def test_jobs_run_in_process_with_their_record_and_progress(medianest_client: Any) -> None:
    worky = Worky()
    client = await medianest_client(entry_points=[entry_point("worky", worky)])
    other = await medianest_client(browser_of=client)
    owner = await sign_in(client, "olga")
    await sign_in(other, "pete")
    runtime = client.app[keys.RUNTIME]
    assert runtime.jobs.kind == "in-process"
    mine = await client.ws_connect("/ws")
    theirs = await other.ws_connect("/ws")
    for socket in (mine, theirs):
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["job.updated"]})
        await socket.receive_json()
    job_id = await runtime.jobs.submit("worky.double", {"n": 21}, owner_id=owner.user_id)
    job = await wait_state(runtime, job_id, "succeeded")
    assert worky.done == [42]
    assert (job.progress, job.attempts, job.error) == (1.0, 1, None)
    assert job.finished_at is not None
    seen = []
    while True:
        msg = await mine.receive_json(timeout=5)
        seen.append((msg["data"]["state"], msg["data"]["progress"]))
        if msg["data"]["state"] == "succeeded":
            break
    assert seen[0] == ("queued", 0.0)
    assert ("running", 0.5) in seen
    assert seen[-1] == ("succeeded", 1.0)
    # Another person receives nothing of it.
    with pytest.raises(asyncio.TimeoutError):
        await theirs.receive_json(timeout=0.5)
    await mine.close()
    await theirs.close()


async def test_a_failing_job_is_retried_then_failed_with_its_reason(medianest_client: Any) -> None:
    worky = Worky()
    worky.failures_left = 5
    client = await medianest_client(entry_points=[entry_point("worky", worky)])
    runtime = client.app[keys.RUNTIME]
    job_id = await runtime.jobs.submit("worky.double", {"n": 1})
    job = await wait_state(runtime, job_id, "failed")
    assert job.attempts == 2  # max_retries=1
    assert job.error is not None
    assert job.error.startswith("ConnectionError: the service hung up")
    assert worky.done == []
    # Running its message again does nothing: the job is finished.
    runtime.jobs.actors["worky.double"].send(job_id)
    await asyncio.sleep(0.5)
    assert (await job_row(runtime, job_id)).attempts == 2


async def test_a_cancelled_job_stops_at_its_next_progress_report(medianest_client: Any) -> None:
    worky = Worky()
    client = await medianest_client(entry_points=[entry_point("worky", worky)])
    runtime = client.app[keys.RUNTIME]
    job_id = await runtime.jobs.submit("worky.double", {"n": 4})
    await wait_state(runtime, job_id, "running")
    assert await runtime.jobs.cancel(job_id)
    await asyncio.sleep(1.5)  # longer than the job would have needed
    job = await job_row(runtime, job_id)
    assert job.state == "cancelled"
    assert worky.done == []
    assert not await runtime.jobs.cancel(job_id)  # already finished


async def test_coroutine_actors_run_on_the_event_loop(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("worky", Worky())])
    runtime = client.app[keys.RUNTIME]
    job_id = await runtime.jobs.submit("worky.pause", {"seconds": 0})
    job = await wait_state(runtime, job_id, "succeeded")
    assert job.progress == 1.0


async def test_unfinished_jobs_are_queued_again_at_start(medianest_runtime: Any, medianest_settings: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from medianest_core.app import create_app
    from medianest_core.runtime import prepare_database

    worky = Worky()
    loaded = medianest_settings()
    first = medianest_runtime(entry_points=[entry_point("worky", worky)], settings=loaded)
    await prepare_database(first)
    # A process stopped while it ran a job: the record still says "running".
    async with first.sessions.begin() as db:
        job = Job(actor="worky.double", payload={"n": 5}, state="running", attempts=1, worker="gone:1")
        db.add(job)
        await db.flush()
        job_id = job.id
    await first.close()
    second = medianest_runtime(entry_points=[entry_point("worky", worky)], settings=loaded)
    client = TestClient(TestServer(create_app(second)))
    await client.start_server()
    try:
        done = await wait_state(second, job_id, "succeeded")
        assert done.attempts == 2
        assert worky.done == [10]
    finally:
        await client.close()


async def test_periodic_tasks_run_on_their_interval(medianest_client: Any) -> None:
    worky = Worky()
    await medianest_client(entry_points=[entry_point("worky", worky)])
    await asyncio.sleep(0.4)
    assert 3 <= worky.ticks <= 10


async def test_actors_state_their_limits(medianest_runtime: Any) -> None:
    runtime = medianest_runtime()
    jobs = runtime.jobs
    declare_actors(jobs, "p", [ActorSpec("long", lambda job: None, time_limit=3600, max_retries=2, queue="slow")])
    actor = jobs.actors["p.long"]
    assert actor.options["time_limit"] == 3_600_000
    assert actor.options["max_retries"] == 0  # retries are the job runner's, recorded in the job
    assert actor.queue_name == "slow"
    with pytest.raises(ValueError, match="declared twice"):
        declare_actors(jobs, "p", [ActorSpec("long", lambda job: None, time_limit=1, max_retries=0)])


@pytest.mark.production
async def test_a_periodic_task_runs_once_per_interval_across_processes(medianest_redis_url: str) -> None:
    from redis.asyncio import Redis

    runs: list[tuple[str, int]] = []
    name = f"once-{secrets.token_hex(4)}"
    interval = 0.3

    def task(who: str) -> PeriodicTask:
        async def run() -> None:
            runs.append((who, int(time.time() // interval)))

        return PeriodicTask(name, interval=interval, run=run)

    clients = [Redis.from_url(medianest_redis_url) for _ in range(2)]
    schedulers = [Scheduler(c) for c in clients]
    for who, scheduler in zip(("a", "b"), schedulers, strict=True):
        scheduler.start("test", [task(who)])
    await asyncio.sleep(interval * 5)
    for scheduler in schedulers:
        await scheduler.stop()
    for client in clients:
        await client.aclose()
    slots = [slot for _, slot in runs]
    assert len(slots) >= 3
    assert len(slots) == len(set(slots)), f"a slot ran twice: {runs}"


@pytest.mark.production
async def test_an_external_broker_is_healthy(medianest_client: Any, broker_url: str) -> None:
    client = await medianest_client(broker_url=broker_url)
    doc = await (await client.get("/api/v1/health")).json()
    broker = {c["name"]: c for c in doc["components"]}["broker"]
    assert broker["state"] == "up"


async def test_an_unreachable_broker_makes_health_503(medianest_client: Any) -> None:
    client = await medianest_client(broker_url="redis://127.0.0.1:1/0")
    resp = await client.get("/api/v1/health")
    assert resp.status == 503
    broker = {c["name"]: c for c in (await resp.json())["components"]}["broker"]
    assert broker["state"] == "down"


WORKER_PLUGIN = """
import os
import time
from pathlib import Path
from medianest_core import ActorSpec, hookimpl

QUEUE = "{queue}"


def touch(job):
    steps = int(job.payload.get("steps", 3))
    for step in range(1, steps + 1):
        job.progress(step / (steps + 1), step=step)
        time.sleep(0.3)
    Path(job.payload["path"]).write_text("done by " + str(os.getpid()))


class Toucher:
    name = "toucher"
    version = "0.1"

    @hookimpl
    def actors(self):
        return [ActorSpec("touch", touch, time_limit=120, max_retries=1, queue=QUEUE)]


plugin = Toucher()
"""


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    fixture = "medianest_redis_url" if request.param == "redis" else "medianest_amqp_url"
    return str(request.getfixturevalue(fixture))


class WorkerSetup:
    """A plugin installed for ``medianest worker`` processes, and the same plugin loaded in this test's web app,
    sharing one data dir (database), broker and Redis."""

    def __init__(self, tmp_path: Path, broker: str, redis: str) -> None:
        import importlib.util

        self.queue = f"q{secrets.token_hex(4)}"
        self.site = tmp_path / "site"
        install_fake_distribution(
            self.site, "toucher", {"toucher": "toucher:plugin"}, {"toucher": WORKER_PLUGIN.format(queue=self.queue)}
        )
        spec = importlib.util.spec_from_file_location(f"toucher_{self.queue}", self.site / "toucher.py")
        assert spec is not None
        assert spec.loader is not None
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.data = tmp_path / "data"
        self.settings = {"broker_url": broker, "redis_url": redis, "job_heartbeat_timeout": 2}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
        self.env.update(
            MEDIANEST_DATA_DIR=str(self.data),
            MEDIANEST_BROKER_URL=broker,
            MEDIANEST_REDIS_URL=redis,
            MEDIANEST_JOB_HEARTBEAT_TIMEOUT="2",
            PYTHONPATH=str(self.site),
        )
        self.logs: list[Path] = []

    async def worker(self) -> asyncio.subprocess.Process:
        log = self.data.parent / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        return await start_worker(self.env, log, "--threads", "1")

    def log_text(self) -> str:
        return "\n".join(log.read_text() for log in self.logs)


@pytest.mark.production
async def test_a_job_from_the_web_runs_in_a_worker_and_its_progress_reaches_only_its_owner(
    tmp_path: Path, broker_url: str, medianest_redis_url: str, medianest_client: Any, medianest_data_dir: Path
) -> None:
    setup = WorkerSetup(tmp_path, broker_url, medianest_redis_url)
    setup.data = medianest_data_dir
    setup.env["MEDIANEST_DATA_DIR"] = str(medianest_data_dir)
    client = await medianest_client(entry_points=[entry_point("toucher", setup.module.plugin)], **setup.settings)
    other = await medianest_client(browser_of=client)
    owner = await sign_in(client, "wanda")
    await sign_in(other, "xavier")
    sockets = []
    for browser in (client, other):
        socket = await browser.ws_connect("/ws")
        await socket.send_json({"id": 1, "type": "subscribe", "topics": ["job.updated"]})
        await socket.receive_json()
        sockets.append(socket)
    mine, theirs = sockets
    worker = await setup.worker()
    try:
        runtime = client.app[keys.RUNTIME]
        target = tmp_path / "touched"
        job_id = await runtime.jobs.submit("toucher.touch", {"path": str(target)}, owner_id=owner.user_id)
        states = []
        while True:
            msg = await mine.receive_json(timeout=60)
            assert msg["data"]["job_id"] == job_id
            states.append((msg["data"]["state"], round(msg["data"]["progress"], 2)))
            if msg["data"]["state"] in ("succeeded", "failed"):
                break
        assert states[0] == ("queued", 0.0)
        assert ("running", 0.25) in states  # progress published by the worker process, through Redis
        assert states[-1] == ("succeeded", 1.0)
        assert target.read_text() == f"done by {worker.pid}"
        with pytest.raises(asyncio.TimeoutError):
            await theirs.receive_json(timeout=0.5)
    finally:
        code = await stop_worker(worker)
    assert code == 0, setup.log_text()
    assert "worker_started" in setup.log_text()


@pytest.mark.production
async def test_a_job_whose_worker_was_killed_is_run_again(
    tmp_path: Path, medianest_redis_url: str, medianest_client: Any, medianest_data_dir: Path
) -> None:
    setup = WorkerSetup(tmp_path, medianest_redis_url, medianest_redis_url)
    setup.data = medianest_data_dir
    setup.env["MEDIANEST_DATA_DIR"] = str(medianest_data_dir)
    client = await medianest_client(entry_points=[entry_point("toucher", setup.module.plugin)], **setup.settings)
    runtime = client.app[keys.RUNTIME]
    first = await setup.worker()
    target = tmp_path / "touched"
    job_id = await runtime.jobs.submit("toucher.touch", {"path": str(target), "steps": 20})
    await wait_state(runtime, job_id, "running", timeout=60)
    await asyncio.sleep(0.5)
    first.kill()  # mid-job, without a chance to say anything
    await first.wait()
    assert (await job_row(runtime, job_id)).state == "running"
    await asyncio.sleep(2.5)  # longer than job_heartbeat_timeout: the job is orphaned
    second = await setup.worker()
    try:
        job = await wait_state(runtime, job_id, "succeeded", "failed", timeout=90)
        assert job.state == "succeeded", job.error
        assert job.attempts == 2
        assert target.read_text() == f"done by {second.pid}"
    finally:
        await stop_worker(second)
