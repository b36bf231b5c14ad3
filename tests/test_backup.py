"""Backups and restores as the owner runs them: ``medianest backup`` while MediaNest works, ``medianest restore``
into a fresh install, and the scheduled backups shown on the admin's home page. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from example_plugins import Greeter
from sqlalchemy import func, select

from medianest_core import cli
from medianest_core.crypto import encode_key, load_keyring
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
    if not await archives():  # read after the page: none was made before it was drawn (under load one may have been)
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


# ---- archives that must not be trusted, targets that must not be harmed ------------------------------------------


def members_of(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def repack(
    archive: Path,
    out: Path,
    replace: dict[str, bytes] | None = None,
    manifest: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """``archive`` with some files replaced and a manifest whose checksums agree again, as anyone can write."""
    files = members_of(archive)
    files.update(replace or {})
    doc = json.loads(files.pop("manifest.json"))
    doc["files"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in files.items()
    }
    if manifest is not None:
        manifest(doc)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in [("manifest.json", json.dumps(doc).encode()), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def sqlite_archive(tmp_path: Path, extra: dict[str, str] | None = None, *args: str) -> tuple[Path, dict[str, str]]:
    """A backup of a fresh SQLite install (core tables only), and the environment of that install."""
    source = tmp_path / "source"
    env = serve_env(source, extra, plugins=[])
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    made = run_cli("backup", str(out / "made.tar.gz"), *args, env=env)
    assert made.returncode == 0, made.stderr
    return out / "made.tar.gz", env


def with_sql(archive: Path, out: Path, sql: str, revisions: list[str] | None = None) -> Path:
    """``archive`` (SQLite) with ``sql`` run on its database."""
    work = out.with_suffix(".db")
    work.write_bytes(members_of(archive)["database.sqlite3"])
    with contextlib.closing(sqlite3.connect(work)) as conn:
        conn.executescript(sql)
        conn.commit()

    def edit(doc: dict[str, Any]) -> None:
        if revisions is not None:
            doc["revisions"]["core"] = revisions

    return repack(archive, out, {"database.sqlite3": work.read_bytes()}, edit)


def psql(url: str, sql: str) -> None:
    from medianest_core.backup import libpq_env

    done = subprocess.run(
        ["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-c", sql], env=libpq_env(url), capture_output=True
    )
    assert done.returncode == 0, done.stderr


async def pg_tables(url: str) -> list[str]:
    from medianest_core.backup import _pg_tables

    return await _pg_tables(url.replace("postgresql://", "postgresql+asyncpg://", 1))


@pytest.mark.production
async def test_a_postgresql_backup_that_would_run_code_or_holds_no_medianest_is_refused(tmp_path: Path) -> None:
    admin = os.environ.get(DATABASE_ENV)
    if not admin:
        skip_or_fail(f"{DATABASE_ENV} is not set")
    assert admin is not None
    made: list[str] = []
    try:
        source_name, source = await _create_database(admin)
        target_name, target = await _create_database(admin)
        made += [source_name, target_name]
        env = serve_env(tmp_path / "source", {"MEDIANEST_DATABASE_URL": source}, plugins=[])
        assert (await asyncio.to_thread(run_cli, "db", "upgrade", env=env)).returncode == 0
        out = tmp_path / "out"
        out.mkdir()

        async def backup_after(sql: str, name: str) -> Path:
            psql(source, sql)
            done = await asyncio.to_thread(run_cli, "backup", str(out / name), env=env)
            assert done.returncode == 0, done.stderr
            return out / name

        function = await backup_after(
            "CREATE FUNCTION public.shout(text) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT upper($1) $$; "
            "CREATE INDEX ix_users_shout ON public.users (public.shout(username));",
            "function.tar.gz",
        )
        psql(source, "DROP FUNCTION public.shout(text) CASCADE")
        expression = await backup_after("CREATE INDEX ix_users_lower ON public.users (lower(username));", "expr.tar.gz")
        psql(source, "DROP INDEX public.ix_users_lower")
        check = await backup_after(
            "ALTER TABLE public.users ADD CONSTRAINT ck_name CHECK (pg_catalog.length(username) > 0);", "check.tar.gz"
        )
        psql(source, "ALTER TABLE public.users DROP CONSTRAINT ck_name")
        view = await backup_after("CREATE VIEW public.names AS SELECT username FROM public.users;", "view.tar.gz")
        psql(source, "DROP VIEW public.names")
        # A dump with no MediaNest table at all, under a manifest that names the usual revisions.
        empty_name, empty = await _create_database(admin)
        made.append(empty_name)
        psql(empty, "CREATE TABLE public.notes (id integer PRIMARY KEY, body text)")
        dump = tmp_path / "empty.pgdump"
        from medianest_core.backup import libpq_env

        args = ["pg_dump", "--format=custom", f"--file={dump}"]
        await asyncio.to_thread(subprocess.run, args, env=libpq_env(empty), check=True)
        nothing = repack(function, out / "nothing.tar.gz", {"database.pgdump": dump.read_bytes()})

        env2 = serve_env(tmp_path / "target", {"MEDIANEST_DATABASE_URL": target}, plugins=[])
        for archive, why in (
            (function, "FUNCTION"),
            (expression, "statement MediaNest never writes"),
            (check, "a table of a form MediaNest never writes"),
            (view, "VIEW"),
            (nothing, "no MediaNest tables"),
        ):
            result = await asyncio.to_thread(run_cli, "restore", str(archive), env=env2)
            assert result.returncode == 2, (archive.name, result.stdout, result.stderr)
            assert why in only_line(result), archive.name
            assert await pg_tables(target) == []  # nothing was restored

        # The backup as MediaNest writes it still restores.
        plain = await backup_after("SELECT 1;", "plain.tar.gz")
        done = await asyncio.to_thread(run_cli, "restore", str(plain), env=env2)
        assert done.returncode == 0, done.stderr
        assert "users" in await pg_tables(target)
    finally:
        for name in made:
            await _drop_database(admin, name)


def test_a_settings_file_from_a_backup_never_points_away_from_the_restored_data(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    source = tmp_path / "source"
    source.mkdir()
    # The old install's settings file names a database and a data dir that are not where the restore goes.
    (source / "medianest.toml").write_text(
        f'database_url = "sqlite:///{elsewhere / "old.db"}"\ndata_dir = "{tmp_path / "old-data"}"\n'
    )
    archive, _ = sqlite_archive(tmp_path, {"MEDIANEST_DATABASE_URL": f"sqlite:///{source / 'medianest.db'}"})
    assert "medianest.toml" in members_of(archive)

    # Restored with MEDIANEST_DATA_DIR set, and into the default data dir (where the file's data_dir would win).
    target = tmp_path / "target"
    by_variable = serve_env(target, plugins=[])
    by_default = {k: v for k, v in by_variable.items() if k != "MEDIANEST_DATA_DIR"}
    by_default["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    for env2, folder, moved in (
        (by_variable, target, "database_url"),
        (by_default, tmp_path / "xdg" / "medianest", "data_dir, database_url"),
    ):
        done = run_cli("restore", str(archive), env=env2)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        assert f"settings file was not installed: its {moved} would point MediaNest away" in done.stderr
        assert not (folder / "medianest.toml").exists()
        assert (folder / "medianest.toml.restored").is_file()
        assert "up to date" in done.stdout
        assert not elsewhere.exists()  # no database was made there
        assert not (tmp_path / "old-data").exists()
        status = run_cli("db", "status", env=env2)
        assert status.stdout.strip().splitlines()[-1] == "up to date", status.stdout + status.stderr


def test_a_settings_file_that_does_not_load_here_is_put_aside(tmp_path: Path) -> None:
    archive, _ = sqlite_archive(tmp_path)
    bad = repack(archive, tmp_path / "bad.tar.gz", {"medianest.toml": b"[plugins.nosuch]\nurl = 'x'\n"})
    target = tmp_path / "target"
    env2 = serve_env(target, plugins=[])
    done = run_cli("restore", str(bad), env=env2)
    assert done.returncode == 0, done.stderr
    assert "nosuch" in done.stderr
    assert "medianest.toml.restored" in done.stderr
    assert not (target / "medianest.toml").exists()
    assert (target / "medianest.toml.restored").read_bytes() == b"[plugins.nosuch]\nurl = 'x'\n"
    assert run_cli("db", "status", env=env2).returncode == 0


def test_a_fresh_install_with_its_settings_file_and_key_takes_a_restore(tmp_path: Path) -> None:
    archive, _ = sqlite_archive(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    (target / "medianest.toml").write_text('log_level = "warning"\n')
    # A key file made before (by hand, or by a command that makes one); the database is still empty.
    (target / "secret.key").write_text(encode_key(os.urandom(32)) + "\n")
    done = run_cli("restore", str(archive), env=serve_env(target, plugins=[]))
    assert done.returncode == 0, done.stderr
    assert (target / "medianest.toml").read_text() == 'log_level = "warning"\n'


def test_pruning_deletes_only_archives_that_medianest_named(tmp_path: Path) -> None:
    from medianest_core.backup import prune

    folder = tmp_path / "backups"
    folder.mkdir()
    names = [
        "medianest-backup-20260101T030000Z.tar.gz",
        "medianest-backup-20260102T030000Z.tar.gz",
        "medianest-backup-20260102T030000Z-2.tar.gz",
        "medianest-backup-20260103T030000Z.tar.gz",
        "medianest-backup-before-upgrade.tar.gz",
        "medianest-backup-2026.tar.gz",
    ]
    for number, name in enumerate(names):
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (1_700_000_000 + number, 1_700_000_000 + number))
    gone = prune(folder, 2)
    assert sorted(p.name for p in gone) == names[:2]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names[2:])


def test_an_archive_that_would_fill_the_disk_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    archive, _ = sqlite_archive(tmp_path)
    files = members_of(archive)
    manifest = json.loads(files["manifest.json"])

    # A sparse member: a few bytes in the archive, a huge file once unpacked.
    sparse = tmp_path / "small.tar.gz"
    with tarfile.open(sparse, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        data = files["manifest.json"]
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("GNUSparseFile.0/database.sqlite3")
        info.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": "database.sqlite3",
            "GNU.sparse.realsize": str(256 << 20),
        }
        block = b"1\n0\n0\n".ljust(512, b"\0")
        info.size = len(block)
        tar.addfile(info, io.BytesIO(block))
    assert sparse.stat().st_size < 2000

    # A member larger than its manifest says; a manifest too large to read.
    bigger = repack(
        archive,
        tmp_path / "bigger.tar.gz",
        manifest=lambda doc: doc["files"]["database.sqlite3"].update(size=10),
    )
    huge = repack(archive, tmp_path / "huge.tar.gz", manifest=lambda doc: doc.update(padding="x" * (2 << 20)))
    target = tmp_path / "target"
    env2 = serve_env(target, plugins=[])
    for bad, why in (
        (sparse, "'database.sqlite3' is a sparse file"),
        (bigger, "not of the size its manifest names"),
        (huge, "manifest is too large"),
    ):
        result = run_cli("restore", str(bad), env=env2)
        assert result.returncode == 2, result.stderr
        assert why in only_line(result)
        assert not target.exists()
    assert manifest["files"]["database.sqlite3"]["size"] > 10


def test_a_keyless_backup_leaves_secret_key_of_the_settings_file_out(tmp_path: Path) -> None:
    key = encode_key(os.urandom(32))
    source = tmp_path / "source"
    source.mkdir()
    (source / "medianest.toml").write_text(f'log_level = "info"\nsecret_key = "{key}"\n')
    archive, _ = sqlite_archive(tmp_path)
    files = members_of(archive)
    assert key.encode() not in b"".join(files.values())
    assert files["medianest.toml"] == b'log_level = "info"\n'
    assert json.loads(files["manifest.json"])["key_included"] is False

    # With --include-key, the settings file goes in as it is.
    included = run_cli("backup", str(tmp_path / "out" / "key.tar.gz"), "--include-key", env=serve_env(source))
    assert included.returncode == 0, included.stderr
    assert key.encode() in members_of(tmp_path / "out" / "key.tar.gz")["medianest.toml"]


def test_a_restore_that_cannot_write_stops_in_one_line_before_or_without_leftovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive, _ = sqlite_archive(tmp_path, None, "--include-key")
    target = tmp_path / "target"
    (tmp_path / "blocked").write_text("a file, not a folder")
    env2 = serve_env(target, {"MEDIANEST_SECRET_KEY_FILE": str(tmp_path / "blocked" / "secret.key")}, plugins=[])
    refused = run_cli("restore", str(archive), env=env2)
    assert refused.returncode == 1
    assert "blocked is not a folder" in only_line(refused)
    assert not (target / "medianest.db").exists()  # checked before the database was put in place

    # The disk fills up while the database is written.
    for key in [k for k in os.environ if k.startswith("MEDIANEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MEDIANEST_DATA_DIR", str(target))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    capsys.readouterr()
    assert cli.main(["restore", str(archive)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "No space left on device" in err[0]
    assert not target.exists() or sorted(p.name for p in target.iterdir()) == []


def test_a_database_of_another_shape_or_a_newer_version_is_refused(tmp_path: Path) -> None:
    archive, _ = sqlite_archive(tmp_path)
    newer = with_sql(
        archive, tmp_path / "newer.tar.gz", "UPDATE alembic_version SET version_num = '9999_future';", ["9999_future"]
    )
    view = with_sql(
        archive,
        tmp_path / "view.tar.gz",
        "DROP TABLE alembic_version; CREATE VIEW alembic_version AS "
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT '0005_content' AS version_num "
        "FROM n LIMIT 1;",
    )
    shape = repack(archive, tmp_path / "shape.tar.gz", manifest=lambda doc: doc.update(revisions={"core": 5}))
    target = tmp_path / "target"
    env2 = serve_env(target, plugins=[])
    for bad, code, why in (
        (newer, 2, "newer MediaNest"),
        (view, 2, "no MediaNest tables"),
        (shape, 2, "revisions are not lists"),
    ):
        result = run_cli("restore", str(bad), env=env2, timeout=30)
        assert result.returncode == code, result.stderr
        assert why in only_line(result)
        assert not target.exists()


def test_backups_that_end_at_once_never_take_each_others_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from medianest_core import backup

    data = tmp_path / "data"
    for key in [k for k in os.environ if k.startswith("MEDIANEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MEDIANEST_DATA_DIR", str(data))
    assert cli.main(["db", "upgrade"]) == 0
    snapshot = backup._sqlite_snapshot
    taken: list[Path] = []

    def and_another(source: Path, target: Path) -> None:
        # Another backup ends meanwhile, under the name this one chose.
        snapshot(source, target)
        for path in (data / "backups").glob("*"):
            if path.is_file():
                return
        name = backup.archive_name(datetime.now(UTC))
        for moment in {name, backup.archive_name(datetime.now(UTC) - timedelta(seconds=1))}:
            (data / "backups" / moment).write_bytes(b"the other one")
            taken.append(data / "backups" / moment)

    monkeypatch.setattr(backup, "_sqlite_snapshot", and_another)
    capsys.readouterr()
    assert cli.main(["backup"]) == 0
    written = archive_of(capsys.readouterr().out)
    assert written not in taken
    assert re.fullmatch(r"medianest-backup-\d{8}T\d{6}Z-2\.tar\.gz", written.name)
    assert all(p.read_bytes() == b"the other one" for p in taken)


async def test_a_failed_scheduled_backup_is_tried_again_within_the_hour(
    medianest_runtime: Any, medianest_database_url: str
) -> None:
    from medianest_core.backup import STATUS_KEY, _due
    from medianest_core.models import ServiceStatus

    runtime = medianest_runtime(database_url=medianest_database_url)
    from medianest_core.db import upgrade

    await upgrade(runtime.engine)
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    async with runtime.sessions.begin() as db:
        db.add(ServiceStatus(service=STATUS_KEY, state="down", changed_at=two_hours_ago, checked_at=two_hours_ago))
    assert await _due(runtime, 86400, slack=150)
    async with runtime.sessions.begin() as db:
        row = await db.get(ServiceStatus, STATUS_KEY)
        assert row is not None
        row.state = "up"
    assert not await _due(runtime, 86400, slack=150)
