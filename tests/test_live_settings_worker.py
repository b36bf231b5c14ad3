"""Settings saved in the admin pages reach a running ``medianest worker``: the next job it runs uses them, without a
restart of the worker (PostgreSQL and Redis shared with the web app)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import install_fake_distribution

from medianest_core import keys
from medianest_core.models import Job
from medianest_core.testing import entry_point, sign_in, start_worker, stop_worker

TELLER = """
from pathlib import Path

import attrs
from medianest_core import ActorSpec, hookimpl

QUEUE = "{queue}"


@attrs.frozen
class TellerSettings:
    greeting: str = "hello"


class Teller:
    name = "teller"
    version = "0.1"

    @hookimpl
    def settings_class(self):
        return TellerSettings

    @hookimpl
    def actors(self, ctx):
        def tell(job):
            Path(job.payload["path"]).write_text(ctx.settings.greeting)

        return [ActorSpec("tell", tell, time_limit=60, max_retries=0, queue=QUEUE)]


plugin = Teller()
"""


BUNDLED = ("plex", "overseerr", "tmdb", "uptime_kuma", "youtube")


async def finished(runtime: Any, job_id: int, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with runtime.sessions() as db:
            job: Job | None = await db.get(Job, job_id)
        assert job is not None
        if job.state in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout:g} s")


@pytest.mark.production
async def test_a_running_worker_uses_the_settings_saved_in_the_web_app(
    tmp_path: Path, medianest_redis_url: str, medianest_client: Any, medianest_data_dir: Path
) -> None:
    database = os.environ.get("MEDIANEST_TEST_DATABASE_URL")
    if not database:
        pytest.skip("MEDIANEST_TEST_DATABASE_URL is not set")
    from medianest_core.testing import _create_database, _drop_database

    name, url = await _create_database(database)
    database_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    queue = f"q{secrets.token_hex(4)}"
    site = tmp_path / "site"
    install_fake_distribution(site, "teller", {"teller": "teller:plugin"}, {"teller": TELLER.format(queue=queue)})
    spec = importlib.util.spec_from_file_location(f"teller_{queue}", site / "teller.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env.update(
        MEDIANEST_DATA_DIR=str(medianest_data_dir),
        MEDIANEST_DATABASE_URL=database_url,
        MEDIANEST_BROKER_URL=medianest_redis_url,
        MEDIANEST_REDIS_URL=medianest_redis_url,
        PYTHONPATH=str(site),
    )
    # The worker runs the test's plugin alone: the bundled ones would need their tables in this database.
    env.update({f"MEDIANEST_{bundled.upper()}_ENABLED": "false" for bundled in BUNDLED})
    log = tmp_path / "worker.log"
    worker = None
    try:
        client = await medianest_client(
            entry_points=[entry_point("teller", module.plugin)],
            database_url=database_url,
            broker_url=medianest_redis_url,
            redis_url=medianest_redis_url,
        )
        runtime = client.app[keys.RUNTIME]
        admin = await sign_in(client, "root", role="admin")
        worker = await start_worker(env, log, "--threads", "1")

        first = tmp_path / "first"
        job = await finished(runtime, await runtime.jobs.submit("teller.tell", {"path": str(first)}))
        assert job.state == "succeeded", job.error
        assert first.read_text() == "hello"

        resp = await client.put(
            "/api/v1/admin/services/teller", json={"values": {"greeting": "good evening"}}, headers=admin.headers
        )
        assert resp.status == 200, await resp.text()
        await asyncio.sleep(1)  # the worker hears of it through Redis

        second = tmp_path / "second"
        job = await finished(runtime, await runtime.jobs.submit("teller.tell", {"path": str(second)}))
        assert job.state == "succeeded", job.error
        assert second.read_text() == "good evening"  # the same worker process, the new settings
        assert worker.returncode is None
    finally:
        if worker is not None:
            code = await stop_worker(worker)
            assert code == 0, log.read_text()
        await _drop_database(database, name)
