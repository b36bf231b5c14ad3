from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MEDIANEST, install_fake_distribution

from medianest_core import ActorSpec, PeriodicTask, hookimpl, keys
from medianest_core.jobs import Scheduler, create_broker, declare_actors
from medianest_core.settings import load_settings
from medianest_core.testing import entry_point


class Worky:
    name = "worky"
    version = "0.1"

    def __init__(self) -> None:
        self.done: list[int] = []
        self.finished = threading.Event()
        self.ticks = 0

    @hookimpl
    def actors(self) -> list[ActorSpec]:
        def double(job_id: int) -> None:
            self.done.append(job_id * 2)
            self.finished.set()

        return [ActorSpec("double", double, time_limit=30, max_retries=0)]

    @hookimpl
    def periodic_tasks(self) -> list[PeriodicTask]:
        async def tick() -> None:
            self.ticks += 1

        return [PeriodicTask("tick", interval=0.05, run=tick)]


async def test_actors_run_in_process_by_default(medianest_client: Any) -> None:
    worky = Worky()
    client = await medianest_client(entry_points=[entry_point("worky", worky)])
    runtime = client.app[keys.RUNTIME]
    assert runtime.jobs.kind == "in-process"
    runtime.jobs.actors["worky.double"].send(21)
    assert await asyncio.to_thread(worky.finished.wait, 10)
    assert worky.done == [42]


async def test_periodic_tasks_run_on_their_interval(medianest_client: Any) -> None:
    worky = Worky()
    await medianest_client(entry_points=[entry_point("worky", worky)])
    await asyncio.sleep(0.4)
    assert 3 <= worky.ticks <= 10


def test_actors_state_their_limits(tmp_path: Path) -> None:
    jobs = create_broker(load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path)}).settings)
    declare_actors(jobs, "p", [ActorSpec("long", lambda: None, time_limit=3600, max_retries=2, queue="slow")])
    actor = jobs.actors["p.long"]
    assert actor.options["time_limit"] == 3_600_000
    assert actor.options["max_retries"] == 2
    assert actor.queue_name == "slow"
    with pytest.raises(ValueError, match="declared twice"):
        declare_actors(jobs, "p", [ActorSpec("long", lambda: None, time_limit=1, max_retries=0)])


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
from pathlib import Path
from medianest_core import ActorSpec, hookimpl

QUEUE = "{queue}"


def touch(path: str) -> None:
    Path(path).write_text("done by " + str(__import__("os").getpid()))


class Toucher:
    name = "toucher"
    version = "0.1"

    @hookimpl
    def actors(self):
        return [ActorSpec("touch", touch, time_limit=30, max_retries=0, queue=QUEUE)]


plugin = Toucher()
"""


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    fixture = "medianest_redis_url" if request.param == "redis" else "medianest_amqp_url"
    return str(request.getfixturevalue(fixture))


@pytest.mark.production
def test_a_worker_process_runs_jobs_from_the_broker(tmp_path: Path, broker_url: str) -> None:
    queue = f"q{secrets.token_hex(4)}"
    site = tmp_path / "site"
    install_fake_distribution(
        site, "toucher", {"toucher": "toucher:plugin"}, {"toucher": WORKER_PLUGIN.format(queue=queue)}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env.update(
        MEDIANEST_DATA_DIR=str(tmp_path / "data"),
        MEDIANEST_BROKER_URL=broker_url,
        PYTHONPATH=str(site),
    )
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen([MEDIANEST, "worker", "--threads", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        settings = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_BROKER_URL": broker_url})
        jobs = create_broker(settings.settings)
        declare_actors(
            jobs, "toucher", [ActorSpec("touch", lambda path: None, time_limit=30, max_retries=0, queue=queue)]
        )
        target = tmp_path / "touched"
        jobs.actors["toucher.touch"].send(str(target))
        deadline = time.monotonic() + 30
        while not target.exists() and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        assert target.read_text() == f"done by {proc.pid}"
        jobs.broker.close()
    finally:
        proc.terminate()
        code = proc.wait(30)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert "worker_started" in (tmp_path / "worker.log").read_text()
