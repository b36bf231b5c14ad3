"""Backups: one ``tar.gz`` archive holding a consistent snapshot of the database, the settings file, a manifest and,
when asked, the secret key; restoring one; and the scheduled backups of ``serve``.

The snapshot is taken while MediaNest runs: SQLite through its online backup API, PostgreSQL through ``pg_dump``
(its own snapshot). The manifest names MediaNest's version, the kind of database, its revisions, the time, and the
SHA-256 of every file in the archive; a restore checks all of it, and that the database reads, before it changes
anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import tomllib
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import structlog

from medianest_core import __version__
from medianest_core.crypto import (
    CryptoError,
    Keyring,
    KeySource,
    decode_key,
    encode_key,
    key_file_path,
    key_id,
    load_keyring,
    pending_path,
    write_key_file,
)
from medianest_core.db import sqlite_path
from medianest_core.settings import LoadedSettings, Settings, redact_urls
from medianest_core.types import PeriodicTask

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime

log = structlog.get_logger("medianest.backup")

FORMAT: Final = 1
FOLDER: Final = "backups"
PREFIX: Final = "medianest-backup-"
SUFFIX: Final = ".tar.gz"
MANIFEST: Final = "manifest.json"
SQLITE_FILE: Final = "database.sqlite3"
PG_FILE: Final = "database.pgdump"
SETTINGS_FILE: Final = "medianest.toml"
KEY_FILE: Final = "secret.key"
PENDING_KEY_FILE: Final = "secret.key.new"
PG_SCRIPT: Final = "restore.sql"
"""The checked restore script of a PostgreSQL dump, written beside the unpacked files."""
SQLITE_CHECK_SECONDS: Final = 120.0
KNOWN_FILES: Final = frozenset({SQLITE_FILE, PG_FILE, SETTINGS_FILE, KEY_FILE, PENDING_KEY_FILE})
STATUS_KEY: Final = "core/backup"
"""The row of the service status table that holds the last scheduled or manual backup."""
CHECK_EVERY: Final = 300.0
"""How often, at most, ``serve`` asks whether a scheduled backup is due, in seconds."""
NO_LINKS: Final = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS})
RETRY_AFTER: Final = 3600.0
"""After a failed scheduled backup, the next try comes this many seconds later (or after ``backup_every``)."""
RESTORED_SUFFIX: Final = ".restored"
EXIT_BAD_INPUT: Final = 2
EXIT_FAILURE: Final = 1


class BackupError(Exception):
    """A backup or a restore that cannot be done, told in one line; ``code`` is the command's exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


@attrs.frozen
class BackupResult:
    path: Path
    size: int
    created_at: datetime
    database: str
    files: tuple[str, ...]
    key_included: bool


def backup_folder(settings: Settings) -> Path:
    return settings.data_dir / FOLDER


def archive_name(moment: datetime) -> str:
    return f"{PREFIX}{moment.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def database_kind(settings: Settings) -> str:
    return "sqlite" if settings.effective_database_url.is_sqlite else "postgresql"


# ---- PostgreSQL tools ----------------------------------------------------------------------------------------


def find_tool(name: str) -> str | None:
    """``pg_dump``, ``pg_restore`` or ``psql`` on the PATH, else in Debian's versioned folders (newest first)."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        part = Path(path).parent.parent.name
        return int(part) if part.isdigit() else 0

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version, reverse=True)
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


def need_tool(name: str) -> str:
    found = find_tool(name)
    if found is None:
        raise BackupError(
            f"{name} is needed for a PostgreSQL database and is not installed: "
            "run `apt-get install postgresql-client` (or put it on the PATH)"
        )
    return found


def libpq_env(url: str) -> dict[str, str]:
    """The environment that points ``pg_dump``, ``pg_restore`` and ``psql`` at the database of ``url``; the password
    travels in ``PGPASSWORD``, never on a command line."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    query = {k: (v if isinstance(v, str) else v[0]) for k, v in parsed.query.items()}
    host = parsed.host or query.get("host")
    if host:
        env["PGHOST"] = host
    if parsed.port or query.get("port"):
        env["PGPORT"] = str(parsed.port or query.get("port"))
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    ssl = query.get("sslmode") or query.get("ssl")
    if ssl:
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl, ssl)
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def _run_tool(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR:" in line or "FATAL:" in line]
        reason = (errors or lines or [f"exit code {done.returncode}"])[0]
        raise BackupError(f"{what} failed: {redact_urls(reason)}", EXIT_FAILURE)


# ---- what a PostgreSQL dump may hold ----------------------------------------------------------------------------

PG_ENTRY_TYPES: Final = (
    "TABLE DATA",
    "TABLE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SEQUENCE",
    "DEFAULT",
    "FK CONSTRAINT",
    "CONSTRAINT",
    "INDEX",
)
"""The kinds of entry a dump of MediaNest's tables holds; anything else (a function, a trigger, an extension, a
view, a rule, a schema…) could run code when restored, and is refused."""

_IDENT: Final = r'(?:[a-z_][a-z0-9_$]*|"[a-z_][a-z0-9_]*")'
_REL: Final = rf"public\.{_IDENT}"
_COLS: Final = rf"\({_IDENT}(?:, {_IDENT})*\)"
_TYPE: Final = (
    r"(?:bigint|smallint|integer|boolean|text|json|jsonb|date|bytea|uuid|real|double precision"
    r"|numeric(?:\(\d+(?:,\d+)?\))?|character varying(?:\(\d+\))?|character(?:\(\d+\))?"
    r"|(?:timestamp|time)(?:\(\d\))? with(?:out)? time zone|interval)"
)
_LITERAL: Final = rf"(?:'(?:[^'\\]|'')*'(?:::{_TYPE})?|-?\d+(?:\.\d+)?|true|false|NULL|now\(\)|CURRENT_TIMESTAMP)"
_COLUMN: Final = re.compile(rf"{_IDENT} {_TYPE}(?: DEFAULT {_LITERAL})?(?: NOT NULL)?")
_ACTION: Final = r"(?:CASCADE|SET NULL|SET DEFAULT|RESTRICT|NO ACTION)"
_SETTINGS: Final = (
    "statement_timeout|lock_timeout|idle_in_transaction_session_timeout|client_encoding|standard_conforming_strings"
    "|check_function_bodies|xmloption|client_min_messages|row_security|default_tablespace"
    "|default_table_access_method|default_with_oids|transaction_timeout"
)
_STATEMENTS: Final = tuple(
    re.compile(pattern)
    for pattern in (
        rf"SET (?:{_SETTINGS}) = (?:'[A-Za-z0-9_]*'|[a-z0-9_]+);",
        r"SELECT pg_catalog\.set_config\('search_path', '', false\);",
        rf"CREATE SEQUENCE {_REL}(?: AS (?:integer|bigint|smallint))? START WITH \d+ INCREMENT BY \d+"
        r" (?:NO MINVALUE|MINVALUE -?\d+) (?:NO MAXVALUE|MAXVALUE \d+) CACHE \d+(?: CYCLE)?;",
        rf"ALTER SEQUENCE {_REL} OWNED BY {_REL}\.{_IDENT};",
        rf"ALTER TABLE ONLY {_REL} ALTER COLUMN {_IDENT} SET DEFAULT nextval\('{_REL}'::regclass\);",
        rf"SELECT pg_catalog\.setval\('{_REL}', \d+, (?:true|false)\);",
        rf"ALTER TABLE ONLY {_REL} ADD CONSTRAINT {_IDENT} (?:PRIMARY KEY|UNIQUE) {_COLS};",
        rf"ALTER TABLE ONLY {_REL} ADD CONSTRAINT {_IDENT} FOREIGN KEY {_COLS} REFERENCES {_REL}{_COLS}"
        rf"(?: ON UPDATE {_ACTION})?(?: ON DELETE {_ACTION})?(?: DEFERRABLE(?: INITIALLY DEFERRED)?)?;",
        rf"CREATE (?:UNIQUE )?INDEX {_IDENT} ON {_REL} USING btree {_COLS};",
    )
)
_CREATE_TABLE: Final = re.compile(rf"CREATE TABLE {_REL} \((.*)\);")
_COPY: Final = re.compile(rf"COPY ({_REL}) {_COLS} FROM stdin;")
_META: Final = re.compile(r"\\(?:restrict|unrestrict) [A-Za-z0-9]+")


@attrs.frozen
class PgScript:
    """A restore script that holds only MediaNest's kind of tables and their rows, and its version rows."""

    path: Path
    versions: Mapping[str, frozenset[str]]


def _pg_list_problem(listing: str) -> str | None:
    """Why ``pg_restore --list`` shows something a MediaNest dump never holds, or ``None``."""
    for line in listing.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        found = re.fullmatch(r"-?\d+; \d+ \d+ (.*)", line)
        if found is None:
            return f"its dump lists an entry that cannot be read ({line[:80]!r})"
        rest = found[1]
        if rest.startswith("SCHEMA - public "):
            continue  # the schema every database has (its restore script only says it is not created)
        kind = next((k for k in PG_ENTRY_TYPES if rest.startswith(k + " ")), None)
        if kind is None:
            return f"its dump holds a {' '.join(rest.split()[:2])!r} entry, which a MediaNest backup never has"
        schema = rest[len(kind) + 1 :].split(" ", 1)[0]
        if schema != "public":
            return f"its dump holds a {kind} outside the public schema ({schema})"
    return None


def _pg_script_problem(path: Path) -> tuple[str | None, dict[str, frozenset[str]]]:
    """Read the restore script of a dump statement by statement: each must be one of the plain forms that
    ``pg_dump`` writes for MediaNest's tables (no function call, no expression, no psql command); returns the
    problem (or ``None``) and the rows of every ``alembic_version*`` table."""
    versions: dict[str, set[str]] = {}
    statement: list[str] = []
    copying: str | None = None
    with path.open("r", encoding="utf-8", errors="strict", newline="\n") as fh:
        try:
            for number, raw in enumerate(fh, 1):
                line = raw.removesuffix("\n")
                if "\r" in line or "\x00" in line:
                    return f"its dump's line {number} holds a control character", {}
                if copying is not None:
                    if line == "\\.":
                        copying = None
                    elif copying.startswith("alembic_version"):
                        versions.setdefault(copying, set()).add(line)
                    continue
                if not statement and (not line.strip() or line.startswith("--")):
                    continue
                if not statement and line.startswith("\\"):
                    if not _META.fullmatch(line):
                        return f"its dump's line {number} is a psql command", {}
                    continue
                statement.append(line.strip())
                if not line.endswith(";"):
                    continue
                text = " ".join(statement)
                statement = []
                if text.startswith("CREATE TABLE "):
                    table = _CREATE_TABLE.fullmatch(text)
                    columns = table[1].strip().split(", ") if table else []
                    if table is None or not all(_COLUMN.fullmatch(c.strip()) for c in columns):
                        return f"its dump's line {number}: a table of a form MediaNest never writes", {}
                    continue
                copy = _COPY.fullmatch(text)
                if copy is not None:
                    copying = copy[1].removeprefix("public.").strip('"')
                    continue
                if not any(p.fullmatch(text) for p in _STATEMENTS):
                    return f"its dump's line {number} is a statement MediaNest never writes ({text[:60]!r}…)", {}
        except UnicodeDecodeError:
            return "its dump is not UTF-8 text", {}
    if statement or copying is not None:
        return "its dump ends half-way through a statement", {}
    return None, {name: frozenset(rows) for name, rows in versions.items()}


# ---- making a backup -----------------------------------------------------------------------------------------


def _read_only(path: Path) -> str:
    """The URI that opens the SQLite file at ``path`` read-only, whatever characters its name holds."""
    return f"{path.absolute().as_uri()}?mode=ro"


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database through SQLite's online backup API (never a file copy)."""
    src = sqlite3.connect(_read_only(source), uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _free(folder: Path, name: str) -> Path:
    """``folder / name``, or with ``-2``, ``-3``… before the suffix when two backups fall in the same second."""
    stem = name.removesuffix(SUFFIX)
    path, number = folder / name, 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}{SUFFIX}"
    return path


def settings_copy(path: Path, include_key: bool) -> bytes:
    """The settings file as the archive holds it: without ``secret_key`` unless the key goes in too."""
    data = path.read_bytes()
    if include_key:
        return data
    try:
        text = data.decode("utf-8")
        doc = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return data  # not read as settings either: no key in it
    if "secret_key" not in doc:
        return data
    kept: list[str] = []
    top = True
    for line in text.splitlines(keepends=True):
        if re.match(r"\s*\[", line):
            top = False
        if top and re.match(r"""\s*(?:secret_key|"secret_key"|'secret_key')\s*=""", line):
            continue
        kept.append(line)
    left = "".join(kept)
    try:
        again: dict[str, Any] | None = tomllib.loads(left)
    except tomllib.TOMLDecodeError:
        again = None
    if again != {k: v for k, v in doc.items() if k != "secret_key"}:
        raise BackupError(
            f"{path} holds secret_key in a form that cannot be left out of the archive: move the key to "
            "secret_key_file, or add --include-key to put it in the archive on purpose"
        )
    return left.encode("utf-8")


def target_path(settings: Settings, given: Path | None, moment: datetime) -> Path:
    """Where the archive goes: ``given`` (a folder gets the default name), else ``<data dir>/backups/``."""
    if given is None:
        return _free(backup_folder(settings), archive_name(moment))
    given = given.expanduser()
    if given.is_dir():
        return _free(given, archive_name(moment))
    if given.exists():
        raise BackupError(f"{given} already exists: name a new file or a folder")
    if not given.name.endswith(SUFFIX):
        raise BackupError(f"{given}: a backup is a {SUFFIX} file; name one that ends so, or a folder")
    if not given.parent.is_dir():
        raise BackupError(f"{given.parent} is not a folder")
    return given


def _place(partial: Path, path: Path, *, numbered: bool) -> Path:
    """Give the finished archive its name without ever replacing a file: ``path``, or when it was chosen here and
    another backup took it meanwhile, the next free ``-2``, ``-3``… name."""
    stem = path.name.removesuffix(SUFFIX)
    candidate, number = path, 1
    while True:
        try:
            try:
                os.link(partial, candidate)
            except OSError as exc:
                if isinstance(exc, FileExistsError) or exc.errno not in NO_LINKS:
                    raise
                # A file system without hard links (a FAT stick): check, then rename.
                if candidate.exists():
                    raise FileExistsError(candidate) from None
                os.replace(partial, candidate)
            return candidate
        except FileExistsError:
            if not numbered:
                raise BackupError(f"{path} already exists: name a new file or a folder") from None
            number += 1
            candidate = path.with_name(f"{stem}-{number}{SUFFIX}")


async def create_backup(runtime: Runtime, given: Path | None = None, *, include_key: bool = False) -> BackupResult:
    """Write one archive of ``runtime``'s database (and settings file, and with ``include_key`` the secret key)."""
    from medianest_core.db import describe_db_error, migration_state

    settings = runtime.settings
    url = str(settings.effective_database_url)
    kind = database_kind(settings)
    now = datetime.now(UTC)
    path = target_path(settings, given, now)
    source = sqlite_path(url)
    if kind == "sqlite" and (source is None or not source.is_file()):
        raise BackupError(f"there is no database at {source or url} to back up")
    dump_tool = need_tool("pg_dump") if kind == "postgresql" else None
    try:
        state = await migration_state(runtime.engine, runtime.migration_locations())
    except Exception as exc:
        raise BackupError(describe_db_error(exc, url), EXIT_FAILURE) from None
    if state.empty:
        raise BackupError("the database has no MediaNest tables yet: there is nothing to back up")

    def write() -> BackupResult:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".medianest-backup-", dir=path.parent) as work:
            folder = Path(work)
            files: list[str] = []
            if kind == "sqlite":
                assert source is not None
                _sqlite_snapshot(source, folder / SQLITE_FILE)
                files.append(SQLITE_FILE)
            else:
                assert dump_tool is not None
                args = [dump_tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={folder / PG_FILE}"]
                _run_tool(args, libpq_env(url), "pg_dump")
                files.append(PG_FILE)
            loaded = runtime.loaded
            if loaded.config_found and loaded.config_path.is_file():
                (folder / SETTINGS_FILE).write_bytes(settings_copy(loaded.config_path, include_key))
                files.append(SETTINGS_FILE)
            if include_key:
                (folder / KEY_FILE).write_text(encode_key(runtime.keyring.current) + "\n", "ascii")
                files.append(KEY_FILE)
                for other in runtime.keyring.others.values():  # a rotation not yet finished
                    (folder / PENDING_KEY_FILE).write_text(encode_key(other) + "\n", "ascii")
                    files.append(PENDING_KEY_FILE)
            manifest = {
                "format": FORMAT,
                "medianest_version": __version__,
                "database": kind,
                "revisions": {name: sorted(revs) for name, revs in state.current.items() if revs},
                "created_at": now.isoformat(),
                "key_id": runtime.keyring.current_id,
                "key_included": include_key,
                "files": {
                    name: {"sha256": _sha256(folder / name), "size": (folder / name).stat().st_size} for name in files
                },
            }
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
            partial = folder / "archive.partial"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for name in [MANIFEST, *files]:
                    tar.add(folder / name, arcname=name, filter=_private)
            with partial.open("rb") as fh:
                os.fsync(fh.fileno())
            final = _place(partial, path, numbered=given is None or given.expanduser().is_dir())
        return BackupResult(final, final.stat().st_size, now, kind, tuple(files), include_key)

    try:
        return await asyncio.to_thread(write)
    except BackupError:
        raise
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the database {source}: {exc}", EXIT_FAILURE) from None
    except OSError as exc:
        where = exc.filename or path
        raise BackupError(f"cannot write {where}: {exc.strerror or exc}", EXIT_FAILURE) from None


OWN_NAME: Final = re.compile(rf"{re.escape(PREFIX)}\d{{8}}T\d{{6}}Z(?:-\d+)?{re.escape(SUFFIX)}")
"""The names MediaNest gives its archives; only such files are ever deleted."""


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest archives with MediaNest's default name in ``folder``; returns them."""
    archives = sorted(
        (p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if OWN_NAME.fullmatch(p.name) and p.is_file()),
        key=lambda p: (p.stat().st_mtime, p.name),
    )
    gone = archives[: max(len(archives) - keep, 0)]
    for path in gone:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return gone


# ---- reading an archive ---------------------------------------------------------------------------------------


@attrs.frozen
class Checked:
    """An archive whose manifest and checksums agree, unpacked into ``folder``, its database readable."""

    folder: Path
    manifest: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest["database"])

    @property
    def files(self) -> Mapping[str, Any]:
        files: Mapping[str, Any] = self.manifest["files"]
        return files

    def has(self, name: str) -> bool:
        return name in self.files

    def file(self, name: str) -> Path:
        return self.folder / name


def _bad(archive: Path, why: str) -> BackupError:
    return BackupError(f"{archive} is not a usable MediaNest backup: {why}")


MANIFEST_LIMIT: Final = 1 << 20
"""The largest manifest read, in bytes."""
MEMBER_LIMIT: Final = 1 << 40
"""The largest file taken from an archive, in bytes (and never more than the disk has free)."""


def _copy_exactly(source: Any, out: Any, size: int) -> None:
    """Copy ``size`` bytes, counting them: a member that holds more or fewer is refused."""
    left = size
    while left > 0:
        block = source.read(min(1 << 20, left))
        if not block:
            raise ValueError("it ends early")
        out.write(block)
        left -= len(block)
    if source.read(1):
        raise ValueError("it holds more than its size")


def _manifest_problem(manifest: Any) -> str | None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return "its manifest is of an unknown format"
    files = manifest.get("files")
    revisions = manifest.get("revisions")
    if (
        manifest.get("database") not in ("sqlite", "postgresql")
        or not isinstance(files, dict)
        or not isinstance(revisions, dict)
    ):
        return "its manifest lacks the database kind, revisions or files"
    if not all(
        isinstance(revs, list) and all(isinstance(r, str) for r in revs) for revs in revisions.values()
    ) or not isinstance(revisions.get("core", []), list):
        return "its manifest's revisions are not lists of names"
    for name, entry in files.items():
        if name not in KNOWN_FILES:
            return f"its manifest names an unexpected file {name!r}"
        size = entry.get("size") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
        ):
            return f"its manifest's entry for {name} lacks a checksum or a size"
    if not isinstance(manifest.get("key_id", ""), str):
        return "its manifest's key id is not text"
    return None


def _unpack(archive: Path, folder: Path) -> Mapping[str, Any]:
    """Extract the expected files by name (nothing else, no links, no paths) and return the checked manifest.

    The manifest comes first and is read with a cap; every other file must be a plain (not sparse) member of the
    size the manifest names, which must fit on the disk, and is copied counting its bytes."""
    if not archive.exists():
        raise BackupError(f"{archive}: no such file")
    if archive.is_dir():
        raise BackupError(f"{archive} is a folder, not a backup file")
    seen: set[str] = set()
    manifest: Any = None
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                name = member.name
                if member.issparse():
                    raise _bad(archive, f"{name!r} is a sparse file, which a MediaNest backup never holds")
                if name not in KNOWN_FILES | {MANIFEST} or not member.isfile() or name in seen:
                    raise _bad(archive, f"unexpected entry {name!r}")
                seen.add(name)
                source = tar.extractfile(member)
                assert source is not None
                if manifest is None:
                    if name != MANIFEST:
                        raise _bad(archive, "it does not begin with its manifest")
                    if member.size > MANIFEST_LIMIT:
                        raise _bad(archive, "its manifest is too large")
                    with source:
                        data = source.read(MANIFEST_LIMIT + 1)
                    try:
                        manifest = json.loads(data.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError, RecursionError):
                        raise _bad(archive, "its manifest is not JSON") from None
                    problem = _manifest_problem(manifest)
                    if problem is not None:
                        raise _bad(archive, problem)
                    continue
                entry = manifest["files"].get(name)
                if entry is None:
                    raise _bad(archive, f"the manifest and the archive disagree about {name}")
                if member.size != entry["size"]:
                    raise _bad(archive, f"{name} is not of the size its manifest names")
                if member.size > min(MEMBER_LIMIT, shutil.disk_usage(folder).free):
                    raise BackupError(f"{archive}: {name} ({member.size} bytes) does not fit on the disk of {folder}")
                with source, (folder / name).open("wb") as out:
                    try:
                        _copy_exactly(source, out, member.size)
                    except ValueError as exc:
                        raise _bad(archive, f"{name}: {exc}") from None
    except BackupError:
        raise
    except PermissionError:
        raise BackupError(f"{archive}: permission denied") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _bad(archive, f"not a readable tar.gz file ({exc})") from None
    if manifest is None:
        raise _bad(archive, "it has no manifest")
    files = manifest["files"]
    database = SQLITE_FILE if manifest["database"] == "sqlite" else PG_FILE
    if database not in files:
        raise _bad(archive, "it holds no database")
    if set(files) != seen - {MANIFEST}:
        missing = sorted(set(files) - seen) or sorted(seen - {MANIFEST} - set(files))
        raise _bad(archive, f"the manifest and the archive disagree about {', '.join(missing)}")
    for name, entry in files.items():
        if entry["sha256"] != _sha256(folder / name):
            raise _bad(archive, f"{name} does not match its checksum")
    return dict(manifest)


def known_revisions() -> frozenset[str]:
    """Every revision of the core's migrations that this version of MediaNest has."""
    from medianest_core.db import MIGRATIONS_DIR

    found: set[str] = set()
    for file in (MIGRATIONS_DIR / "versions").glob("*.py"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            match = re.search(r"^revision(?:: *str)? *= *[\"']([^\"']+)[\"']", file.read_text("utf-8"), re.MULTILINE)
            if match:
                found.add(match[1])
    return frozenset(found)


def _check_revisions(archive: Path, revisions: set[str] | frozenset[str], manifest: Mapping[str, Any]) -> None:
    if not revisions:
        raise _bad(archive, "its database has no MediaNest tables")
    if revisions != set(manifest["revisions"].get("core", [])):
        raise _bad(archive, "its database is not at the revision its manifest names")
    unknown = sorted(revisions - known_revisions())
    if unknown:
        raise BackupError(
            f"{archive} was made by a newer MediaNest (database revision {', '.join(unknown)}, which this version "
            f"{__version__} does not know): install that version or a newer one to restore it"
        )


def _check_sqlite(archive: Path, path: Path, manifest: Mapping[str, Any]) -> None:
    deadline = time.monotonic() + SQLITE_CHECK_SECONDS
    try:
        with contextlib.closing(sqlite3.connect(_read_only(path), uri=True)) as conn:
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            result = conn.execute("PRAGMA integrity_check").fetchone()
            if result is None or result[0] != "ok":
                raise _bad(archive, f"its database is damaged ({result[0] if result else 'no answer'})")
            kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'alembic_version'").fetchone()
            if kind is None or kind[0] != "table":
                raise _bad(archive, "its database has no MediaNest tables")
            revisions = {str(row[0]) for row in conn.execute("SELECT version_num FROM alembic_version LIMIT 100")}
    except sqlite3.OperationalError as exc:
        if time.monotonic() > deadline:
            raise _bad(archive, f"its database took over {SQLITE_CHECK_SECONDS:.0f} s to check") from None
        raise _bad(archive, f"its database cannot be read ({exc})") from None
    except sqlite3.Error as exc:
        raise _bad(archive, f"its database cannot be read ({exc})") from None
    _check_revisions(archive, revisions, manifest)


def _check_pg(archive: Path, checked: Checked) -> None:
    """The dump holds only MediaNest's kind of tables and rows, at the revisions its manifest names; the restore
    script is written (``restore.sql``) and read here, and it is that script which a restore runs."""
    tool = need_tool("pg_restore")
    dump = checked.file(PG_FILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    listed = subprocess.run([tool, "--list", str(dump)], env=env, capture_output=True, check=False)
    if listed.returncode != 0:
        raise _bad(archive, "its database dump cannot be read by pg_restore")
    problem = _pg_list_problem(listed.stdout.decode("utf-8", "replace"))
    if problem is not None:
        raise _bad(archive, problem)
    script = checked.file(PG_SCRIPT)
    args = [tool, "--no-owner", "--no-privileges", f"--file={script}", str(dump)]
    if subprocess.run(args, env=env, capture_output=True, check=False).returncode != 0:
        raise _bad(archive, "its database dump cannot be read by pg_restore")
    problem, versions = _pg_script_problem(script)
    if problem is not None:
        raise _bad(archive, problem)
    _check_revisions(archive, versions.get("alembic_version", frozenset()), checked.manifest)
    for name, revs in versions.items():
        plugin = name.removeprefix("alembic_version_")
        if name != "alembic_version" and revs != set(checked.manifest["revisions"].get(plugin, [])):
            raise _bad(archive, f"its database is not at the revision its manifest names ({plugin})")


def check_archive(archive: Path, folder: Path) -> Checked:
    """Unpack ``archive`` into ``folder`` and check it all; raises :class:`BackupError` (exit code 2)."""
    manifest = _unpack(archive, folder)
    checked = Checked(folder, manifest)
    if checked.kind == "sqlite":
        _check_sqlite(archive, checked.file(SQLITE_FILE), manifest)
    else:
        _check_pg(archive, checked)
    for name in (KEY_FILE, PENDING_KEY_FILE):
        if checked.has(name):
            try:
                decode_key(checked.file(name).read_text("ascii"), name)
            except (CryptoError, UnicodeDecodeError):
                raise _bad(archive, f"its {name} is not a key") from None
    return checked


# ---- restoring -----------------------------------------------------------------------------------------------


@attrs.frozen
class Restored:
    database: str
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def _data_dir_entries(loaded: LoadedSettings, archive: Path, ignore: Iterable[Path]) -> list[str]:
    """What the data dir holds besides the backups folder, the archive, the settings file in use and ``ignore``."""
    folder = loaded.settings.data_dir
    if not folder.is_dir():
        return []
    skipped = {archive.resolve(), loaded.config_path.resolve(), *(p.resolve() for p in ignore)}
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name == FOLDER or entry.resolve() in skipped:
            continue
        found.append(entry.name)
    return found


def _sqlite_tables(path: Path) -> list[str]:
    if not path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(_read_only(path), uri=True)) as conn:
            return [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    except sqlite3.Error:
        return [path.name] if path.stat().st_size else []


async def _pg_tables(url: str) -> list[str]:
    from sqlalchemy import inspect

    from medianest_core.db import create_engine, describe_db_error

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    except Exception as exc:
        raise BackupError(describe_db_error(exc, url), EXIT_FAILURE) from None
    finally:
        await engine.dispose()


_CLEAR_SCHEMA: Final = """
DO $medianest$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') LOOP
    EXECUTE format(
      CASE r.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS %I CASCADE'
                     WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS %I CASCADE'
                     WHEN 'S' THEN 'DROP SEQUENCE IF EXISTS %I CASCADE'
                     WHEN 'f' THEN 'DROP FOREIGN TABLE IF EXISTS %I CASCADE'
                     ELSE 'DROP TABLE IF EXISTS %I CASCADE' END, r.relname);
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c')
             AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid) LOOP
    EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
  END LOOP;
END
$medianest$;
"""


def _pg_restore(url: str, script: Path, work: Path) -> None:
    """Replace everything in the database's schema with the checked restore script, in one transaction: all or
    nothing."""
    env = libpq_env(url)
    env["PGOPTIONS"] = "-c client_min_messages=warning"
    full = work / "full.sql"
    with full.open("wb") as out:
        out.write(_CLEAR_SCHEMA.encode("utf-8"))
        with script.open("rb") as body:
            shutil.copyfileobj(body, out)
    args = [need_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
    _run_tool([*args, f"--file={full}"], env, "psql")


def _install_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.restoring")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        # The write-ahead log of the database being replaced must not be replayed into the restored one.
        for suffix in ("-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                target.with_name(target.name + suffix).unlink()
        os.replace(temp, target)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.restoring")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _unwritable(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (made with its folders if need be), or ``None``."""
    if path.is_dir():
        return f"{path} is a folder"
    place = path.parent
    while not place.exists():
        if place.parent == place:
            break
        place = place.parent
    if not place.is_dir():
        return f"{place} is not a folder"
    if not os.access(place, os.W_OK | os.X_OK):
        return f"{place} is not writable"
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK | os.X_OK):
        return f"{path} is not writable"
    return None


def _settings_problem(loaded: LoadedSettings, path: Path, url: str, key_path: Path) -> str | None:
    """Why the archive's settings file at ``path`` must not become the settings file: it does not load here (an
    unknown key, a plugin that is not installed), or it would point MediaNest at another data dir, database or
    key file than the ones restored into."""
    from medianest_core.plugins import PluginHost, PluginStatus, known_plugin_names
    from medianest_core.settings import SettingsError, load_settings

    installed = known_plugin_names()
    try:
        other = load_settings(path, plugin_names=installed)
    except SettingsError as exc:
        return f"it does not load here ({str(exc).replace(str(path), SETTINGS_FILE)})"
    for name in other.settings.plugins:
        if name not in installed:
            return f"it does not load here (plugins.{name}: no plugin of that name is installed)"
    with contextlib.suppress(Exception):
        for record in PluginHost.load(other).records.values():
            if record.status is PluginStatus.BAD_SETTINGS:
                return f"it does not load here ({record.reason})"
    moved = [
        key
        for key, differs in (
            ("data_dir", other.settings.data_dir.resolve() != loaded.settings.data_dir.resolve()),
            ("database_url", str(other.settings.effective_database_url) != url),
            (
                "secret_key_file",  # the default one moves with data_dir, which is named already
                key_file_path(other.settings).resolve() != key_path.resolve()
                and (other.settings.secret_key_file is not None or loaded.settings.secret_key_file is not None),
            ),
        )
        if differs
    ]
    if moved:
        return f"its {', '.join(moved)} would point MediaNest away from what was just restored"
    return None


async def restore_backup(loaded: LoadedSettings, archive: Path, *, force: bool = False) -> Restored:
    """Check ``archive`` (a path already expanded), refuse a target that holds data (unless ``force``), then
    restore the database, the key and the settings file. Nothing is changed when a check fails."""
    settings = loaded.settings
    url = str(settings.effective_database_url)
    kind = database_kind(settings)
    key_path = key_file_path(settings)
    notes: list[str] = []
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="medianest-restore-") as work:
        folder = Path(work)
        checked = await asyncio.to_thread(check_archive, archive, folder)
        if checked.kind != kind:
            held = "SQLite" if checked.kind == "sqlite" else "PostgreSQL"
            named = "SQLite" if kind == "sqlite" else "PostgreSQL"
            raise BackupError(
                f"this backup holds a {held} database, but the settings name a {named} one (database_url): "
                f"restore it into {held}"
            )
        target_db = sqlite_path(url)
        if kind == "sqlite" and target_db is None:
            raise BackupError("database_url names an in-memory SQLite database: there is nowhere to restore")
        if not force:
            tables = (
                _sqlite_tables(target_db)
                if kind == "sqlite" and target_db is not None
                else await _pg_tables(url)
                if kind == "postgresql"
                else []
            )
            if tables:
                raise BackupError(
                    f"the database {redact_urls(url)} is not empty ({len(tables)} tables): restore into an empty "
                    "one, or add --force to replace what is there"
                )
            # The database is empty: its file, and a key that seals nothing yet, are no data to lose.
            ignore = [key_path, pending_path(key_path)]
            if target_db is not None:
                ignore += [target_db, *(target_db.with_name(target_db.name + s) for s in ("-wal", "-shm", "-journal"))]
            entries = _data_dir_entries(loaded, archive, ignore)
            if entries:
                raise BackupError(
                    f"the data dir {settings.data_dir} is not empty ({', '.join(entries)}): restore into an empty "
                    "one, or add --force to replace what is there"
                )

        config = loaded.config_path
        settings_problem: str | None = None
        if checked.has(SETTINGS_FILE):
            settings_problem = await asyncio.to_thread(
                _settings_problem, loaded, checked.file(SETTINGS_FILE), url, key_path
            )
        # Everything that will be written must be writable before anything is replaced.
        writes: list[Path] = []
        if target_db is not None:
            writes.append(target_db)
        if checked.has(KEY_FILE):
            writes += [key_path, key_path.with_name(key_path.name + ".tmp"), pending_path(key_path)]
        if checked.has(SETTINGS_FILE):
            writes.append(config if settings_problem is None else config.with_name(config.name + RESTORED_SUFFIX))
        for path in writes:
            problem = _unwritable(path)
            if problem is not None:
                raise BackupError(f"cannot restore: {problem}; nothing was changed", EXIT_FAILURE)
        if target_db is not None:
            free = shutil.disk_usage(_existing(target_db.parent)).free
            needed = checked.file(SQLITE_FILE).stat().st_size
            if needed > free:
                raise BackupError(
                    f"cannot restore: the database needs {needed} bytes and {target_db.parent} has {free} free; "
                    "nothing was changed",
                    EXIT_FAILURE,
                )

        # Every check passed: from here on, things change.
        try:
            await _install(loaded, checked, url, key_path, settings_problem, notes, warnings)
        except OSError as exc:
            where = exc.filename or settings.data_dir
            raise BackupError(f"restore stopped: cannot write {where}: {exc.strerror or exc}", EXIT_FAILURE) from None

        wanted = str(checked.manifest.get("key_id", ""))
        try:
            present: str | None = load_keyring(settings, create=False).current_id
        except (CryptoError, OSError):
            present = None
        if wanted and present != wanted:
            notes.append(
                f"the stored secrets were sealed with key {wanted}, and "
                + (f"this install's key is {present}" if present else "this install has no key yet")
                + ": put that key in place (a backup made with --include-key holds it) or enter the secrets again"
            )
    return Restored(database=kind, notes=tuple(notes), warnings=tuple(warnings))


def _existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


async def _install(
    loaded: LoadedSettings,
    checked: Checked,
    url: str,
    key_path: Path,
    settings_problem: str | None,
    notes: list[str],
    warnings: list[str],
) -> None:
    settings = loaded.settings
    if checked.kind == "sqlite":
        target = sqlite_path(url)
        assert target is not None
        await asyncio.to_thread(_install_sqlite, checked.file(SQLITE_FILE), target)
    else:
        await asyncio.to_thread(_pg_restore, url, checked.file(PG_SCRIPT), checked.folder)

    if checked.has(KEY_FILE):
        key = decode_key(checked.file(KEY_FILE).read_text("ascii"), KEY_FILE)
        write_key_file(key_path, key)
        pending = pending_path(key_path)
        if checked.has(PENDING_KEY_FILE):
            write_key_file(pending, decode_key(checked.file(PENDING_KEY_FILE).read_text("ascii"), KEY_FILE))
        else:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
        if settings.secret_key is not None and key_id(key) != key_id(
            decode_key(settings.secret_key.get_secret_value(), "secret_key")
        ):
            notes.append(
                f"the key from the backup is in {key_path}, but secret_key (or MEDIANEST_SECRET_KEY) names "
                "another one, which wins: unset it so that the stored secrets open"
            )

    if checked.has(SETTINGS_FILE):
        data = checked.file(SETTINGS_FILE).read_bytes()
        config = loaded.config_path
        aside = config.with_name(config.name + RESTORED_SUFFIX)
        if settings_problem is not None:
            _write_private(aside, data)
            warnings.append(
                f"the backup's settings file was not installed: {settings_problem}; it is at {aside}: "
                f"compare it with {config} and take what still applies"
            )
        elif not config.exists():
            _write_private(config, data)
            notes.append(f"settings file restored to {config}")
        elif config.read_bytes() != data:
            _write_private(aside, data)
            notes.append(f"{config} was kept; the backup's settings file is beside it: {aside}")


async def database_state(loaded: LoadedSettings) -> str:
    """After a restore: whether the database is at the revision this version needs, in one line."""
    from medianest_core.runtime import build_runtime

    target = sqlite_path(str(loaded.settings.effective_database_url))
    if loaded.settings.effective_database_url.is_sqlite and (target is None or not target.is_file()):
        return f"there is no database at {target or loaded.settings.effective_database_url}: the settings name another"
    runtime = build_runtime(loaded, keyring=Keyring(current=bytes(32), source=KeySource("none")))
    try:
        from medianest_core.db import migration_state

        state = await migration_state(runtime.engine, runtime.migration_locations())
    finally:
        await runtime.close()
    if state.up_to_date:
        return "the database is up to date"
    if loaded.settings.effective_database_url.is_sqlite:
        return "the database is from another version: `medianest serve` upgrades it at start"
    return "the database is from another version: run `medianest db upgrade`"


# ---- scheduled backups and their status -----------------------------------------------------------------------


@attrs.frozen
class BackupStatus:
    """The last backup as the admin's home page shows it."""

    every: float
    last_at: datetime | None = None
    path: str | None = None
    size: int | None = None
    failed_at: datetime | None = None
    error: str | None = None


async def record(runtime: Runtime, result: BackupResult | None, error: str | None = None) -> None:
    """Keep the outcome of a backup in the service status table, for every process and across restarts."""
    from medianest_core.models import ServiceStatus

    now = datetime.now(UTC)
    async with runtime.sessions.begin() as db:
        row = await db.get(ServiceStatus, STATUS_KEY)
        if row is None:
            row = ServiceStatus(service=STATUS_KEY, state="none", changed_at=now)
            db.add(row)
        state = "up" if result is not None else "down"
        if row.state != state:
            row.changed_at = now
        row.state = state
        row.checked_at = now
        if result is not None:
            row.last_success_at = result.created_at
            row.message = json.dumps({"path": str(result.path), "size": result.size})
            row.last_error = None
        else:
            row.last_error = error


async def backup_status(runtime: Runtime) -> BackupStatus:
    from medianest_core.models import ServiceStatus

    every = runtime.settings.backup_every
    async with runtime.sessions() as db:
        row = await db.get(ServiceStatus, STATUS_KEY)
    if row is None:
        return BackupStatus(every)
    path: str | None = None
    size: int | None = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        doc = json.loads(row.message or "")
        path, size = str(doc["path"]), int(doc["size"])
    failed = row.state == "down"
    return BackupStatus(
        every,
        last_at=row.last_success_at,
        path=path,
        size=size,
        failed_at=row.checked_at if failed else None,
        error=row.last_error if failed else None,
    )


async def _due(runtime: Runtime, every: float, slack: float) -> bool:
    """Whether ``every`` seconds have passed since the last backup (or since scheduling began)."""
    from medianest_core.models import ServiceStatus

    now = datetime.now(UTC)
    async with runtime.sessions.begin() as db:
        row = await db.get(ServiceStatus, STATUS_KEY)
        if row is None:
            db.add(ServiceStatus(service=STATUS_KEY, state="none", changed_at=now))
            return False
        since = row.checked_at or row.changed_at or now
        if row.state == "down":  # the last one failed: try again sooner than a whole period later
            every = min(every, RETRY_AFTER)
    return (now - since).total_seconds() >= every - slack


async def scheduled_backup(runtime: Runtime) -> BackupResult | None:
    """One scheduled backup into ``<data dir>/backups``, the oldest beyond ``backup_keep`` deleted; a failure is
    recorded and told to the admins."""
    from medianest_core import notifications

    started = time.monotonic()
    try:
        result = await create_backup(runtime)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
        log.error("backup_failed", error=reason)
        await record(runtime, None, reason)
        await notifications.alert_admins(runtime, "The scheduled backup failed", reason, notifications.Level.ERROR)
        return None
    gone = await asyncio.to_thread(prune, backup_folder(runtime.settings), runtime.settings.backup_keep)
    log.info(
        "backup_written",
        path=str(result.path),
        size=result.size,
        seconds=round(time.monotonic() - started, 2),
        deleted=[p.name for p in gone],
    )
    await record(runtime, result)
    return result


def backup_task(runtime: Runtime) -> PeriodicTask | None:
    """The periodic task of ``serve`` that makes a backup every ``backup_every`` seconds; ``None`` when off.

    It looks at most every :data:`CHECK_EVERY` seconds whether one is due (by the time of the last one, kept in the
    database), so that restarts neither repeat nor skip a backup; the first look comes one round after start."""
    every = runtime.settings.backup_every
    if every <= 0:
        return None
    tick = min(every, CHECK_EVERY)
    rounds: Iterator[int] = iter(range(1, 2**62))

    async def run() -> None:
        if next(rounds) == 1:
            return
        if await _due(runtime, every, slack=tick / 2):
            await scheduled_backup(runtime)

    return PeriodicTask(name="backup", interval=tick, run=run)
