"""Backups and restores as the owner runs them: ``medianest backup`` while MediaNest works, ``medianest restore``
into a fresh install, and the scheduled backups shown on the admin's home page. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from example_plugins import Greeter
from sqlalchemy import func, select

from medianest_core import cli
from medianest_core.crypto import load_keyring
from medianest_core.models import ApiToken, AuditEntry, Notification, ServiceSetting, User
from medianest_core.models import Session as SessionRow
from medianest_core.runtime import Runtime, build_runtime
from medianest_core.settings import load_settings
from medianest_core.testing import (
    DATABASE_ENV,
    Server,
    _create_database,
    _drop_database,
    entry_point,
    run_cli,
    serve_env,
    sign_in,
    skip_or_fail,
)
from medianest_core.web.shell import size

SECRET_CONTEXT = "service_settings.secret"


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line the command wrote on standard error; fails on more, or on a traceback."""
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest_asyncio.fixture
async def fresh_database_url(medianest_database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second, empty database of the same kind as ``medianest_database_url``: where a restore goes."""
    if medianest_database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'medianest.db'}"
        return
    admin = os.environ.get(DATABASE_ENV)
    assert admin
    name, url = await _create_database(admin)
    try:
        yield url
    finally:
        await _drop_database(admin, name)


def archive_of(stdout: str) -> Path:
    found = re.search(r"backup written: (\S+) \(", stdout)
    assert found, stdout
    return Path(found[1])


async def write_pairs(runtime: Runtime, admin_id: int, stop: asyncio.Event, written: list[int]) -> None:
    """Keep writing, as a busy server does: each transaction adds a notification and an audit entry that share
    a number, so a snapshot taken half-way through one would hold one without the other."""
    number = 0
    while not stop.is_set():
        number += 1
        async with runtime.sessions.begin() as db:
            db.add(Notification(user_id=admin_id, title=f"write {number}", body=""))
            db.add(AuditEntry(action="test.write", target=f"write {number}"))
        written.append(number)
        await asyncio.sleep(0.002)


def login(server: Server, username: str, password: str) -> int:
    request = urllib.request.Request(
        server.url + "/api/v1/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json", "Origin": server.url},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def session_as(server: Server, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(server.url + "/api/v1/auth/session", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_a_backup_taken_while_writes_go_on_restores_everything(
    medianest_runtime: Any,
    medianest_client: Any,
    medianest_data_dir: Path,
    medianest_database_url: str,
    fresh_database_url: str,
    tmp_path: Path,
) -> None:
    runtime = medianest_runtime(entry_points=[entry_point("greeter", Greeter())], database_url=medianest_database_url)
    env = serve_env(medianest_data_dir)
    # Every installed plugin's tables too, as on a real install.
    upgraded = await asyncio.to_thread(run_cli, "db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    client = await medianest_client(runtime=runtime)

    admin = await sign_in(client, "olivia", role="admin")
    guest = await medianest_client(browser_of=client)
    user = await sign_in(guest, "peter")
    made = await guest.post("/api/v1/me/tokens", json={"name": "script"}, headers=user.headers)
    assert made.status == 201
    token = (await made.json())["token"]
    saved = await client.put(
        "/api/v1/admin/services/greeter",
        json={"values": {"greeting": "bonjour", "api_key": "open-sesame"}},
        headers=admin.headers,
    )
    assert saved.status == 200, await saved.text()
    cookie = next(c.value for c in guest.session.cookie_jar if c.key == "medianest_session")

    stop = asyncio.Event()
    written: list[int] = []
    writer = asyncio.create_task(write_pairs(runtime, admin.user_id, stop, written))
    await asyncio.sleep(0.2)
    before = len(written)
    try:
        result = await asyncio.to_thread(run_cli, "backup", "--include-key", env=env)
        during = len(written)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await writer
    assert result.returncode == 0, result.stderr
    assert during > before  # the writes did go on while the backup ran
    assert "secret key" in result.stderr  # the warning about the key in the archive
    archive = archive_of(result.stdout)
    assert archive.parent == medianest_data_dir / "backups"
    assert re.fullmatch(r"medianest-backup-\d{8}T\d{6}Z\.tar\.gz", archive.name)
    assert archive.stat().st_mode & 0o077 == 0

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    kind = "sqlite" if medianest_database_url.startswith("sqlite") else "postgresql"
    assert manifest["database"] == kind
    assert manifest["revisions"]["core"]
    assert {"medianest.toml", "secret.key"} <= set(manifest["files"])

    restored = tmp_path / "restored"
    env2 = serve_env(restored, {"MEDIANEST_DATABASE_URL": fresh_database_url}, plugins=[])
    done = await asyncio.to_thread(run_cli, "restore", str(archive), env=env2)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    status = await asyncio.to_thread(run_cli, "db", "status", env=serve_env(restored, env2))
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.strip().splitlines()[-1] == "up to date"

    # Everything is there, the sealed secret opens with the restored key, and no transaction is torn.
    loaded = load_settings(env=env2, plugin_names=["greeter"])
    after = build_runtime(
        loaded, [entry_point("greeter", Greeter())], keyring=load_keyring(loaded.settings, create=False)
    )
    try:
        async with after.sessions() as db:
            names = set((await db.scalars(select(User.username))).all())
            assert {"olivia", "peter"} <= names
            assert await db.scalar(select(func.count()).select_from(ApiToken)) == 1
            assert (await db.scalar(select(func.count()).select_from(SessionRow)) or 0) >= 2
            rows = {r.key: r for r in (await db.scalars(select(ServiceSetting))).all()}
            assert rows["greeting"].value == "bonjour"
            assert after.keyring.decrypt(rows["api_key"].secret or "", SECRET_CONTEXT) == "open-sesame"
            notes = set((await db.scalars(select(Notification.title).where(Notification.title.like("write %")))).all())
            audits = set((await db.scalars(select(AuditEntry.target).where(AuditEntry.action == "test.write"))).all())
    finally:
        await after.close()
    assert notes == audits
    assert len(notes) >= before

    # And the install works: serve starts, people sign in, their sessions and tokens still hold.
    with Server(env2, tmp_path / "serve.log") as server:
        assert login(server, "olivia", "olivia-password-123") == 200
        code, doc = session_as(server, {"Authorization": f"Bearer {token}"})
        assert code == 200, doc
        assert doc["user"]["username"] == "peter"
        code, doc = session_as(server, {"Cookie": f"medianest_session={cookie}"})
        assert code == 200, doc
        assert doc["user"]["username"] == "peter"


async def test_a_restore_refuses_a_bad_archive_or_a_used_target_and_changes_nothing(
    medianest_runtime: Any, medianest_data_dir: Path, medianest_database_url: str, tmp_path: Path
) -> None:
    runtime = medianest_runtime(database_url=medianest_database_url)
    env = serve_env(medianest_data_dir)
    assert (await asyncio.to_thread(run_cli, "db", "upgrade", env=env)).returncode == 0
    await runtime.close()
    out = tmp_path / "out"
    out.mkdir()
    made = await asyncio.to_thread(run_cli, "backup", str(out / "mine.tar.gz"), env=env)
    assert made.returncode == 0, made.stderr
    archive = out / "mine.tar.gz"

    # A damaged database inside the archive: the checksum no longer matches.
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    database = next(name for name in members if name.startswith("database."))
    members[database] = members[database][:-10] + b"0123456789"
    tampered = out / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    truncated = out / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[:200])
    not_ours = out / "other.tar.gz"
    not_ours.write_bytes(gzip.compress(b"just some text"))

    target = tmp_path / "target"
    env2 = serve_env(target, {"MEDIANEST_DATABASE_URL": f"sqlite:///{target / 'medianest.db'}"})
    if not medianest_database_url.startswith("sqlite"):
        env2 = serve_env(target, {"MEDIANEST_DATABASE_URL": medianest_database_url})
    for bad, why in (
        (tampered, "does not match its checksum"),
        (truncated, "not a readable tar.gz file"),
        (not_ours, "not a readable tar.gz file"),
        (out / "missing.tar.gz", "no such file"),
    ):
        result = await asyncio.to_thread(run_cli, "restore", str(bad), env=env2)
        assert result.returncode == 2, result.stderr
        assert why in only_line(result)
        assert not target.exists()  # nothing was touched

    # The source itself is not empty: a restore into it needs --force.
    refused = await asyncio.to_thread(run_cli, "restore", str(archive), env=env)
    assert refused.returncode == 2
    assert "--force" in only_line(refused)
    forced = await asyncio.to_thread(run_cli, "restore", str(archive), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    status = await asyncio.to_thread(run_cli, "db", "status", env=env)
    assert status.returncode == 0, status.stdout


def test_a_backup_path_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "data")
    nothing = run_cli("backup", env=env)
    assert nothing.returncode == 2
    assert "no database" in only_line(nothing)
    assert run_cli("db", "upgrade", env=env).returncode == 0
    for path, why in ((str(tmp_path / "x.zip"), ".tar.gz"), (str(tmp_path / "no" / "x.tar.gz"), "not a folder")):
        result = run_cli("backup", path, env=env)
        assert result.returncode == 2
        assert why in only_line(result)


def test_without_pg_dump_a_postgresql_backup_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = os.environ.get(DATABASE_ENV)
    if not admin:
        skip_or_fail(f"{DATABASE_ENV} is not set")
    assert admin is not None
    name, url = asyncio.run(_create_database(admin))
    try:
        for key in [k for k in os.environ if k.startswith("MEDIANEST_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("MEDIANEST_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("MEDIANEST_DATABASE_URL", url)
        assert cli.main(["db", "upgrade"]) == 0
        monkeypatch.setattr("medianest_core.backup.find_tool", lambda name: None)
        capsys.readouterr()
        assert cli.main(["backup"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        assert "pg_dump" in err[0]
        assert "apt-get install postgresql-client" in err[0]
    finally:
        asyncio.run(_drop_database(admin, name))


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def size_of(path: Path) -> int:
    return path.stat().st_size


def put_file_at(folder: Path) -> bool:
    """Put a file where the backups folder is (a backup that runs meanwhile may make the folder again)."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.write_text("not a folder")
    return folder.is_file()


def backups_block(page: str) -> str:
    start = page.index('id="backups"')
    return page[start : page.index("</section>", start)]


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


async def test_scheduled_backups_are_kept_shown_and_a_failure_is_told(
    medianest_client: Any, medianest_data_dir: Path, medianest_database_url: str
) -> None:
    client = await medianest_client(database_url=medianest_database_url, backup_every=1, backup_keep=2)
    await sign_in(client, "olivia", role="admin")
    folder = medianest_data_dir / "backups"

    async def archives() -> list[Path]:
        return sorted(folder.glob("medianest-backup-*.tar.gz")) if folder.is_dir() else []

    async def page() -> str:
        resp = await client.get("/admin", headers={"Accept": "text/html"})
        assert resp.status == 200
        return unescape(await resp.text())

    first = await page()
    assert "No backup has been made yet." in first
    seen: set[Path] = set()

    async def three_made_two_kept() -> bool:
        seen.update(await archives())
        return len(seen) >= 3 and len(await archives()) == 2

    await until(three_made_two_kept, 30)
    assert set(await archives()) < seen  # the oldest were deleted

    shown, newest = "", Path()

    async def newest_shown() -> bool:
        nonlocal shown, newest
        shown = await page()
        newest = max(await archives(), key=lambda p: p.stat().st_mtime)
        return str(newest) in shown

    await until(newest_shown)
    block = backups_block(shown)
    assert "<time datetime=" in block
    assert f"{size(size_of(newest))}, in {newest}" in words(block)

    # A backup that cannot be written: shown on the page and told to the admins.
    async def folder_blocked() -> bool:
        return put_file_at(folder)

    await until(folder_blocked)

    async def failure_shown() -> bool:
        nonlocal shown
        shown = await page()
        return "The last backup failed" in shown

    await until(failure_shown)
    block = words(backups_block(shown))
    assert f"cannot write {folder}" in block
    assert f"in {newest}" in block  # the last good one is still shown
    listed = await (await client.get("/api/v1/notifications")).json()
    titles = [n["title"] for n in listed["notifications"]]
    assert "The scheduled backup failed" in titles
