"""What a plugin author relies on: the pytest fixtures, reading a job from a plugin, and a guide that says what the
code does."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web

from medianest_core import Access, ActorSpec, PluginContext, Route, hookimpl
from medianest_core.settings import Secret, SettingsError
from medianest_core.testing import entry_point, run_cli

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


@attrs.frozen
class HelloSettings:
    greeting: str = "hello"
    api_key: Secret | None = None


class Hello:
    name = "hello"
    title = "Hello"
    version = "0.1.0"

    def __init__(self) -> None:
        self.ctx: PluginContext | None = None

    @hookimpl
    def settings_class(self) -> type[Any]:
        return HelloSettings

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        from medianest_core.auth.principal import require

        self.ctx = ctx

        async def greeting(request: web.Request) -> web.Response:
            who = require(request)
            return web.json_response({"greeting": ctx.settings.greeting, "to": who.username, "id": who.user_id})

        async def note(request: web.Request) -> web.Response:
            body = await request.json()
            return web.json_response({"saved": body["text"], "by": require(request).user_id}, status=201)

        async def secret(request: web.Request) -> web.Response:
            return web.json_response({"admin": require(request).username})

        return [
            Route("GET", "/greeting", greeting, name="hello-greeting"),
            Route("POST", "/notes", note, name="hello-notes", status=201),
            Route("GET", "/admin", secret, name="hello-admin", access=Access.ADMIN),
        ]

    @hookimpl
    def actors(self) -> list[ActorSpec]:
        def count(job: Any) -> None:
            total = int(job.payload["to"])
            for done in range(1, total + 1):
                job.progress(done / total, done=done, total=total)
                time.sleep(0.01)

        def broken(job: Any) -> None:
            job.progress(0.5, stage="halfway")
            raise ValueError("the greeter is out of words")

        return [
            ActorSpec("count", count, time_limit=30, max_retries=0),
            ActorSpec("broken", broken, time_limit=30, max_retries=0),
        ]


# -- a client signed in in one line ------------------------------------------------------------------------------


async def test_a_signed_in_client_reads_and_writes_as_a_new_person(medianest_signed_in: Any) -> None:
    admin = await medianest_signed_in(
        "admin", entry_points=[entry_point("hello", Hello())], plugins={"hello": {"greeting": "hi"}}
    )
    resp = await admin.get("/api/v1/hello/greeting")
    assert resp.status == 200
    assert await resp.json() == {"greeting": "hi", "to": admin.username, "id": admin.user_id}
    # A write passes: the session's CSRF token goes with it.
    resp = await admin.post("/api/v1/hello/notes", json={"text": "remember the milk"})
    assert resp.status == 201, await resp.text()
    assert await resp.json() == {"saved": "remember the milk", "by": admin.user_id}
    assert (await admin.get("/api/v1/hello/admin")).status == 200
    # Who it is: a new account of that role, which signs in with the password it gives.
    assert admin.username.startswith("admin")
    assert admin.role == "admin"
    session = await admin.get("/api/v1/auth/session")
    assert (await session.json())["user"]["username"] == admin.username
    assert admin.password
    assert admin.csrf_token == admin.user.csrf_token

    # Another person on the same server, in their own browser: a user, kept out of the admin's route.
    user = await medianest_signed_in(client=admin)
    assert user.role == "user"
    assert user.user_id != admin.user_id
    assert (await (await user.get("/api/v1/hello/greeting")).json())["to"] == user.username
    forbidden = await user.get("/api/v1/hello/admin")
    assert forbidden.status == 403
    assert (await forbidden.json())["error"]["code"] == "forbidden"
    again = await admin.get("/api/v1/hello/greeting")
    assert (await again.json())["to"] == admin.username


async def test_signing_in_with_a_role_that_does_not_exist_says_which_exist(medianest_signed_in: Any) -> None:
    with pytest.raises(ValueError, match=r"role: expected one of admin, user, got 'owner'"):
        await medianest_signed_in("owner")


# -- fixtures that do what they say ------------------------------------------------------------------------------


def test_a_plugins_environment_keys_apply_when_it_is_among_the_entry_points(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(
        entry_points=[entry_point("hello", Hello())],
        env={"MEDIANEST_HELLO_GREETING": "hi from the environment", "MEDIANEST_HELLO_API_KEY": "k-1"},
    )
    record = runtime.plugins.get("hello")
    assert record.status == "loaded", record.reason
    assert record.settings.greeting == "hi from the environment"
    assert record.settings.api_key.get_secret_value() == "k-1"


def test_a_plugins_environment_keys_apply_with_settings_made_for_its_entry_points(medianest_settings: Any) -> None:
    loaded = medianest_settings(entry_points=[entry_point("hello", Hello())], env={"MEDIANEST_HELLO_GREETING": "hi"})
    assert loaded.settings.plugins["hello"] == {"greeting": "hi"}


def test_an_environment_variable_that_names_no_setting_is_an_error(medianest_runtime: Any) -> None:
    with pytest.raises(SettingsError, match=r"MEDIANEST_HELO_GREETING: no such setting.*plugins known: .*hello"):
        medianest_runtime(entry_points=[entry_point("hello", Hello())], env={"MEDIANEST_HELO_GREETING": "hi"})


PROBE = """
import json, os
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump(dict(os.environ), out)
"""


def test_run_cli_adds_its_env_to_this_processs_environment(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(PROBE, encoding="utf-8")
    seen = tmp_path / "env.json"
    env = {"MEDIANEST_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(probe), "PROBE_OUT": str(seen)}

    done = run_cli("--version", env=env)
    assert done.returncode == 0, done.stderr
    child = json.loads(seen.read_text())
    assert child["PATH"] == os.environ["PATH"]
    assert child["HOME"] == os.environ["HOME"]
    assert child["MEDIANEST_DATA_DIR"] == str(tmp_path / "data")
    assert not [var for var in child if var.startswith("MEDIANEST_") and var != "MEDIANEST_DATA_DIR"]

    done = run_cli("--version", env=env, replace_env=True)
    assert done.returncode == 0, done.stderr
    assert "PATH" not in json.loads(seen.read_text())


SKIPPED_TESTS = """\
from medianest_core.testing import skip_or_fail


def test_needs_redis(medianest_redis_url):
    assert medianest_redis_url


def needs_postgresql():
    skip_or_fail("no PostgreSQL here")


def test_needs_postgresql():
    needs_postgresql()
"""


def test_a_production_skip_is_reported_at_the_test(tmp_path: Path) -> None:
    (tmp_path / "test_needs.py").write_text(SKIPPED_TESTS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "test_needs.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = sorted(line for line in done.stdout.splitlines() if line.startswith("SKIPPED"))
    assert skipped == [
        "SKIPPED [1] test_needs.py:12: no PostgreSQL here",
        "SKIPPED [1] test_needs.py:4: MEDIANEST_TEST_REDIS_URL is not set",
    ], done.stdout


# -- jobs, from a plugin ---------------------------------------------------------------------------------------


async def wait_finished(jobs: Any, job_id: int) -> Any:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job = await jobs.get(job_id)
        if job is not None and job.finished:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def test_a_plugin_reads_its_jobs_state_progress_detail_and_error(medianest_signed_in: Any) -> None:
    from medianest_core import JobContext, JobInfo, JobState

    assert JobContext.__module__ == "medianest_core.jobrunner"
    hello = Hello()
    client = await medianest_signed_in(entry_points=[entry_point("hello", hello)])
    assert hello.ctx is not None
    assert hello.ctx.jobs is not None
    jobs = hello.ctx.jobs

    job_id = await jobs.submit("hello.count", {"to": 3}, owner_id=client.user_id)
    done = await wait_finished(jobs, job_id)
    assert isinstance(done, JobInfo)
    assert (done.job_id, done.actor, done.owner_id) == (job_id, "hello.count", client.user_id)
    assert (done.state, done.progress, done.error) == (JobState.SUCCEEDED, 1.0, None)
    assert done.detail == {"done": 3, "total": 3}
    assert done.attempts == 1
    assert done.finished_at is not None

    failed = await wait_finished(jobs, await jobs.submit("hello.broken"))
    assert failed.state is JobState.FAILED
    assert failed.owner_id is None
    assert failed.error is not None
    assert re.fullmatch(r"ValueError: the greeter is out of words \(at test_plugin_author\.py:\d+\)", failed.error)
    assert (failed.progress, failed.detail) == (0.5, {"stage": "halfway"})

    assert await jobs.get(job_id + 1000) is None


# -- the guide says what the code does ---------------------------------------------------------------------------


def guide_section(heading: str) -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def table_column(heading: str) -> list[str]:
    """The first column of the table in the paragraph after the one that starts with ``heading``."""
    text = GUIDE.read_text(encoding="utf-8")
    table = text[text.index("\n" + heading) :].split("\n\n", 2)[1]
    return [row.split("|")[1].strip(" `") for row in table.splitlines()[2:]]


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\s]+)`", text))


def test_the_guide_lists_every_error_code() -> None:
    from medianest_core.errors import ErrorCode

    assert set(table_column("The error codes (`medianest_core.errors.ErrorCode`")) == {code.value for code in ErrorCode}


def test_the_guide_lists_exactly_the_icons_a_nav_link_accepts() -> None:
    from medianest_core.web.shell import ICONS

    section = guide_section("### nav_links")
    paragraph = next(part for part in section.split("\n\n") if part.startswith("Icons:"))
    assert backticked(paragraph) == set(ICONS)


@pytest.mark.parametrize(
    ("heading", "cls"),
    [
        ("`JobUpdated` fields", "medianest_core.events:JobUpdated"),
        ("`JobInfo` fields", "medianest_core.jobrunner:JobInfo"),
        ("`Principal` fields", "medianest_core.auth.principal:Principal"),
    ],
)
def test_the_guide_lists_every_field_of(heading: str, cls: str) -> None:
    module, _, name = cls.partition(":")
    fields = {field.name for field in attrs.fields(getattr(importlib.import_module(module), name))}
    assert set(table_column(heading)) == fields


def test_the_guide_lists_every_job_state() -> None:
    from medianest_core import JobState

    text = GUIDE.read_text(encoding="utf-8")
    row = next(line for line in text[text.index("\n`JobInfo` fields") :].splitlines() if line.startswith("| `state`"))
    assert {state.value for state in JobState} <= backticked(row)
