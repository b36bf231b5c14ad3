"""The ``medianest`` command.

Bad input (arguments, settings, keys) ends with one line on standard error and exit code 2; a service that
cannot be reached ends with one line and exit code 1. No traceback reaches the person at the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs

from medianest_core import __version__

if TYPE_CHECKING:
    from medianest_core.db import MigrationState
    from medianest_core.plugins import PluginHost, PluginRecord
    from medianest_core.runtime import Runtime
    from medianest_core.settings import LoadedSettings, LogLevel

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    raise CliError(message, code)


def _load(args: argparse.Namespace) -> LoadedSettings:
    from medianest_core.logs import configure_logging
    from medianest_core.plugins import known_plugin_names
    from medianest_core.settings import SettingsError, load_settings

    try:
        loaded = load_settings(getattr(args, "config", None), plugin_names=known_plugin_names())
    except SettingsError as exc:
        _fail(f"bad settings: {exc}")
    settings = loaded.settings
    if args.quiet_logs:
        # Commands that print results keep standard output for them and log only errors, to standard error.
        level: LogLevel = "debug" if settings.log_level == "debug" else "error"
        configure_logging(level, settings.log_format, stream=sys.stderr)
    else:
        configure_logging(settings.log_level, settings.log_format)
    return loaded


def _runtime(args: argparse.Namespace) -> Runtime:
    from medianest_core.crypto import CryptoError
    from medianest_core.runtime import build_runtime

    loaded = _load(args)
    try:
        return build_runtime(loaded)
    except CryptoError as exc:
        _fail(f"secret key: {exc}")
    except OSError as exc:
        # The data dir or the key file cannot be made or read (permissions, a read-only disk).
        _fail(f"cannot use {exc.filename}: {exc.strerror}" if exc.filename else f"cannot start: {exc}")


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


async def _ready(runtime: Runtime, migrate: bool | None = None) -> MigrationState:
    from medianest_core.db import DatabaseError
    from medianest_core.runtime import prepare_database

    try:
        return await prepare_database(runtime, migrate=migrate)
    except DatabaseError as exc:
        await runtime.close()
        _fail(str(exc), EXIT_FAILURE)


# ---- serve / worker ---------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from medianest_core.app import ServeError, serve

    runtime = _runtime(args)
    host = args.host or runtime.settings.host
    port = args.port if args.port is not None else runtime.settings.port
    try:
        _run(serve(runtime, host, port))
    except ServeError as exc:
        _fail(str(exc), EXIT_FAILURE)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from medianest_core.jobs import shutdown_jobs

    runtime = _runtime(args)
    if not runtime.jobs.external:
        _fail("medianest worker needs an external broker: set broker_url to a redis:// or amqp:// URL")

    async def main() -> None:
        import dramatiq
        import structlog

        log = structlog.get_logger("medianest.worker")
        await _ready(runtime)
        bridge = None
        if runtime.settings.redis_url is not None:
            from medianest_core.events import RedisBridge

            # Events that jobs publish here reach the web processes, and their websockets.
            bridge = RedisBridge(runtime.events, str(runtime.settings.redis_url))
            await bridge.start()
        names = runtime.declare_actors()
        assert runtime.jobs.runner is not None
        await runtime.jobs.runner.start()
        await runtime.jobs.runner.recover(everything=False)
        await runtime.start_plugins()
        from medianest_core.live_settings import listen

        # Settings saved in the admin pages restart the plugin here too (the event bus carries them from serve).
        stop_listening = listen(runtime)
        worker = dramatiq.Worker(runtime.jobs.broker, worker_threads=args.threads, worker_timeout=1000)
        await asyncio.to_thread(worker.start)
        log.info("worker_started", broker=runtime.jobs.kind, actors=names, threads=args.threads)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("worker_stopping")
        await asyncio.to_thread(worker.stop, int(runtime.settings.shutdown_timeout * 1000))
        await asyncio.to_thread(shutdown_jobs, runtime.jobs)
        await runtime.jobs.runner.stop()
        stop_listening()
        await runtime.stop_plugins()
        if bridge is not None:
            await bridge.stop()
        await runtime.close()

    _run(main())
    return 0


# ---- db ----------------------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    runtime = _runtime(args)

    async def main() -> Any:
        state = await _ready(runtime, migrate=True)
        await runtime.close()
        return state

    state = _run(main())
    print(f"database is up to date: {state.describe()}")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    from medianest_core import db

    runtime = _runtime(args)

    async def main() -> Any:
        try:
            return await db.migration_state(runtime.engine, runtime.migration_locations())
        except Exception as exc:
            _fail(db.describe_db_error(exc, str(runtime.settings.effective_database_url)), EXIT_FAILURE)
        finally:
            await runtime.close()

    state = _run(main())
    print(f"current: {state.describe('current')}")
    print(f"wanted:  {state.describe('wanted')}")
    print("up to date" if state.up_to_date else "needs `medianest db upgrade`")
    return 0 if state.up_to_date else EXIT_FAILURE


# ---- users -------------------------------------------------------------------------------------------------


def _utf8(text: str, message: str) -> None:
    """Fail with ``message`` when ``text`` holds bytes that were not UTF-8 (kept by Python as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        _fail(message)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            _fail("the passwords do not match")
        password = first
    elif os.environ.get("MEDIANEST_PASSWORD"):
        password = os.environ["MEDIANEST_PASSWORD"]
        _utf8(password, "MEDIANEST_PASSWORD is not valid UTF-8 text")
    else:
        try:
            password = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:
            _fail("the password on standard input is not valid UTF-8 text")
        _utf8(password, "the password on standard input is not valid UTF-8 text")
    from medianest_core.auth.passwords import password_problem

    problem = password_problem(password)
    if problem:
        _fail(problem)
    return password


def cmd_user_create(args: argparse.Namespace) -> int:
    from medianest_core.auth.accounts import AccountError, create_local_user, username_problem
    from medianest_core.models import Role

    problem = username_problem(args.username)
    if problem:
        _fail(problem)
    role = Role(args.role)
    password = _read_password()
    runtime = _runtime(args)

    async def main() -> int:
        await _ready(runtime)
        try:
            async with runtime.sessions.begin() as db:
                user = await create_local_user(db, args.username, password, role, actor_id=None, via="cli")
                return user.id
        except AccountError as exc:
            _fail(str(exc))
        finally:
            await runtime.close()

    user_id = _run(main())
    print(f"created {role.value} {args.username!r} (id {user_id})")
    return 0


def cmd_user_create_admin(args: argparse.Namespace) -> int:
    args.role = "admin"
    return cmd_user_create(args)


def cmd_user_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from medianest_core.models import User

    runtime = _runtime(args)

    async def main() -> list[User]:
        await _ready(runtime)
        try:
            async with runtime.sessions() as session:
                return list((await session.scalars(select(User).order_by(User.id))).all())
        finally:
            await runtime.close()

    users = _run(main())
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": u.id,
                        "username": u.username,
                        "role": u.role.value,
                        "status": u.status.value,
                        "created_at": u.created_at.isoformat(),
                        "last_login_at": u.last_login_at and u.last_login_at.isoformat(),
                    }
                    for u in users
                ],
                indent=2,
            )
        )
        return 0
    rows = [(str(u.id), u.username, u.role.value, u.status.value, u.created_at.strftime("%Y-%m-%d")) for u in users]
    _table(("ID", "USERNAME", "ROLE", "STATUS", "CREATED"), rows, empty="no users yet")
    return 0


# ---- plugins, config, secrets ------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "") -> None:
    if not rows:
        print(empty)
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


SAVED_SETTINGS_TIMEOUT = 5.0


def _plugins_as_served(loaded: LoadedSettings) -> tuple[PluginHost, str | None]:
    """The plugins with the settings the daemon gives them: the file and the environment over the values the
    admin saved in the admin pages. The saved values are read only when the database and the secret key already
    exist (nothing is created); when they cannot be read, the plugins have the file and the environment alone, and
    the second item says why."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from medianest_core.crypto import CryptoError, load_keyring
    from medianest_core.db import describe_db_error
    from medianest_core.plugins import PluginHost
    from medianest_core.runtime import build_runtime
    from medianest_core.service_settings import apply_saved_settings

    settings = loaded.settings
    url = str(settings.effective_database_url)
    if settings.effective_database_url.is_sqlite:
        path = make_url(url).database
        if not path or path == ":memory:" or not Path(path).is_file():
            return PluginHost.load(loaded), None  # a fresh install: nothing saved yet
    left_out = "values saved in the admin pages are left out"
    try:
        keyring = load_keyring(settings, create=False)
    except (CryptoError, OSError) as exc:
        return PluginHost.load(loaded), f"{left_out}: secret key: {exc}"
    runtime = build_runtime(loaded, keyring=keyring)

    async def apply() -> str | None:
        try:
            async with asyncio.timeout(SAVED_SETTINGS_TIMEOUT):
                await apply_saved_settings(runtime)  # reads everything before it changes a plugin's settings
        except CryptoError as exc:
            return f"{left_out}: secret key: {exc}"
        except TimeoutError:
            return f"{left_out}: the database did not answer within {SAVED_SETTINGS_TIMEOUT:g} s"
        except Exception as exc:
            return f"{left_out}: {describe_db_error(exc, url)}"
        finally:
            await runtime.close()
        return None

    return runtime.plugins, _run(apply())


def _plugin_state(record: PluginRecord) -> tuple[str, str]:
    """A plugin's status and reason in the listing: a loaded plugin whose service is not set up says so."""
    if record.active and not record.set_up:
        return "not set up", f"set it up in [plugins.{record.name}] or on the admin's Services page"
    return record.status.label, record.reason or ""


def cmd_plugins(args: argparse.Namespace) -> int:
    host, note = _plugins_as_served(_load(args))
    if note is not None:
        print(f"medianest: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(host.summary(), indent=2))
        return 0
    rows = [(r.name, r.version, *_plugin_state(r)) for r in host.records.values()]
    _table(("NAME", "VERSION", "STATUS", "REASON"), rows, empty="no plugins installed")
    return 0


def cmd_plugin_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medianest_core.scaffold import ScaffoldError, create

    try:
        target = create(args.name, Path(args.dir))
    except ScaffoldError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write the plugin: {exc.strerror or exc} ({exc.filename or args.dir})", EXIT_FAILURE)
    print(f"made {target}: install it with `pip install -e '{target}[test]'`, then run `pytest` in it")
    return 0


def _toml_value(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)


def cmd_config_check(args: argparse.Namespace) -> int:
    from medianest_core.crypto import CryptoError, check_key
    from medianest_core.plugins import PluginHost, PluginStatus, known_plugin_names
    from medianest_core.settings import did_you_mean, settings_items

    loaded = _load(args)
    try:
        check_key(loaded.settings)
    except CryptoError as exc:
        _fail(f"secret key: {exc}")
    host = PluginHost.load(loaded)
    for record in host.records.values():
        if record.status is PluginStatus.BAD_SETTINGS:
            _fail(f"bad settings: {record.reason}")
    installed = known_plugin_names()
    for name in loaded.settings.plugins:
        if name not in installed:
            key = f"plugins.{name}"
            where = loaded.source(next(iter(k for k in loaded.sources if k.startswith(key + ".")), key))
            suffix = f" (from {where.where})" if where.where else ""
            _fail(f"bad settings: {key}: no plugin of that name is installed{did_you_mean(name, installed)}{suffix}")

    lines: list[tuple[str, str]] = []
    state = "found" if loaded.config_found else "not found, defaults in use"
    print(f"# settings file: {loaded.config_path} ({state})")
    for key, value in settings_items(loaded.settings):
        lines.append((f"{key} = {_toml_value(value)}", str(loaded.source(key))))
    for record in host.records.values():
        lines.append(("", ""))
        lines.append(
            (
                f"[plugins.{record.name}]",
                f"{record.status.label}" + (f": {record.reason}" if record.reason else ""),
            )
        )
        enabled_key = f"plugins.{record.name}.enabled"
        lines.append(
            (
                f"enabled = {_toml_value(record.status is not PluginStatus.DISABLED)}",
                str(loaded.source(enabled_key)),
            )
        )
        if record.settings is not None and attrs.has(type(record.settings)):
            for key, value in settings_items(record.settings):
                lines.append((f"{key} = {_toml_value(value)}", str(loaded.source(f"plugins.{record.name}.{key}"))))
    width = min(max(len(text) for text, _ in lines), 44)
    for text, note in lines:
        print(f"{text.ljust(width)}  # {note}" if note else text)
    return 0


def cmd_secrets_rotate(args: argparse.Namespace) -> int:
    from medianest_core.crypto import CryptoError, encode_key
    from medianest_core.secrets import rotate_key

    runtime = _runtime(args)

    def announce(key: bytes) -> None:
        print(
            "The key comes from the settings or the environment: set MEDIANEST_SECRET_KEY (or secret_key) to the "
            "new key below before the next start; stored secrets are now being re-sealed with it.",
            file=sys.stderr,
        )
        print(encode_key(key), flush=True)

    async def main() -> Any:
        await _ready(runtime)
        try:
            return await rotate_key(runtime, announce)
        except CryptoError as exc:
            _fail(f"secret key: {exc}", EXIT_FAILURE)
        finally:
            await runtime.close()

    result = _run(main())
    print(
        f"re-sealed {result.count} stored secret(s) under key {result.new_id} (was {result.old_id})",
        file=sys.stderr,
    )
    return 0


# ---- backups ----------------------------------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medianest_core.backup import BackupError, create_backup, record
    from medianest_core.db import sqlite_path

    if args.path is not None and not args.path.strip():
        _fail("the backup's path is empty")
    settings = _load(args).settings
    source = sqlite_path(str(settings.effective_database_url))
    if settings.effective_database_url.is_sqlite and (source is None or not source.is_file()):
        # Checked before the runtime is built: it would make an empty database.
        _fail(f"there is no database at {source or settings.effective_database_url} to back up")
    runtime = _runtime(args)
    if args.include_key:
        print(
            "medianest: warning: the archive holds the secret key: whoever has it can open every stored secret; "
            "keep it as safe as the key itself",
            file=sys.stderr,
        )

    async def main() -> Any:
        try:
            result = await create_backup(runtime, Path(args.path) if args.path else None, include_key=args.include_key)
            with contextlib.suppress(Exception):  # the admin's page shows it; a database that refuses is no failure
                await record(runtime, result)
            return result
        except BackupError as exc:
            _fail(str(exc), exc.code)
        finally:
            await runtime.close()

    result = _run(main())
    print(f"backup written: {result.path} ({result.size} bytes: {', '.join(result.files)})")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medianest_core.backup import BackupError, database_state, restore_backup
    from medianest_core.db import describe_db_error

    if not args.path.strip():
        _fail("the backup's path is empty")
    loaded = _load(args)
    try:
        restored = _run(restore_backup(loaded, Path(args.path).expanduser(), force=args.force))
    except BackupError as exc:
        _fail(str(exc), exc.code)
    except OSError as exc:  # the temporary folder or the data dir cannot be used
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(f"restore stopped: {where}{exc.strerror or exc}", EXIT_FAILURE)
    for note in restored.notes:
        print(f"medianest: note: {note}", file=sys.stderr)
    for warning in restored.warnings:
        print(f"medianest: warning: {warning}", file=sys.stderr)
    after = _load(args)  # the settings file may have come from the backup
    try:
        state = _run(database_state(after))
    except Exception as exc:
        _fail(describe_db_error(exc, str(after.settings.effective_database_url)), EXIT_FAILURE)
    print(f"restored {args.path} ({restored.database}); {state}")
    return 0


# ---- parser ------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, not {value}")
    return value


def _host(text: str) -> str:
    from medianest_core.settings import host_problem

    problem = host_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="settings file (default: $MEDIANEST_CONFIG, else medianest.toml in the data dir)",
    )
    parser = _Parser(
        prog="medianest",
        description="MediaNest: a portal for the people you share Plex with.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"medianest {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def add(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        p.set_defaults(func=func, quiet_logs=True)
        return p

    p = add(commands, "serve", cmd_serve, "Run the web server, jobs and schedules in this process.")
    p.add_argument("--host", type=_host, help="address to listen on (default: host setting, 127.0.0.1)")
    p.add_argument("--port", type=_port, help="port to listen on (default: port setting, 8080)")
    p.set_defaults(quiet_logs=False)

    p = add(commands, "worker", cmd_worker, "Run background jobs from the external broker (broker_url).")
    p.add_argument("--threads", type=_positive, default=4, help="worker threads in this process (default 4)")
    p.set_defaults(quiet_logs=False)

    db_parser = commands.add_parser(
        "db", help="Database migrations.", description="Database migrations.", parents=[common]
    )
    db_cmds = db_parser.add_subparsers(dest="db_command", metavar="COMMAND", parser_class=_Parser)
    db_cmds.required = True
    add(db_cmds, "upgrade", cmd_db_upgrade, "Apply every pending migration of the core and the plugins.")
    add(db_cmds, "status", cmd_db_status, "Show the database's revision and the one this version needs.")

    user_parser = commands.add_parser(
        "user", help="Local user accounts.", description="Local user accounts.", parents=[common]
    )
    user_cmds = user_parser.add_subparsers(dest="user_command", metavar="COMMAND", parser_class=_Parser)
    user_cmds.required = True
    p = add(
        user_cmds,
        "create",
        cmd_user_create,
        "Create a local account; the password comes from the terminal, or from MEDIANEST_PASSWORD or the "
        "first line of standard input when that is not a terminal.",
    )
    p.add_argument("username")
    p.add_argument("--role", choices=["admin", "user"], default="user", help="role (default: user)")
    p = add(
        user_cmds,
        "create-admin",
        cmd_user_create_admin,
        "Create a local admin account (as `create --role admin`).",
    )
    p.add_argument("username")
    p = add(user_cmds, "list", cmd_user_list, "List the accounts.")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add(commands, "plugins", cmd_plugins, "List the installed plugins with version, status and reason.")
    p.add_argument("--json", action="store_true", help="print JSON")

    plugin_parser = commands.add_parser("plugin", help="Write plugins.", description="Write plugins.", parents=[common])
    plugin_cmds = plugin_parser.add_subparsers(dest="plugin_command", metavar="COMMAND", parser_class=_Parser)
    plugin_cmds.required = True
    p = add(
        plugin_cmds,
        "new",
        cmd_plugin_new,
        "Make the folder medianest-NAME/: a plugin's distribution with a page, an API route, a dashboard card, a "
        "health check, a job and a table, with its tests.",
    )
    p.add_argument("name", metavar="NAME", help="the plugin's name, a lowercase identifier such as 'weather'")
    p.add_argument("--dir", metavar="PATH", default=".", help="where to make it (default: the current folder)")

    config_parser = commands.add_parser("config", help="Settings.", description="Settings.", parents=[common])
    config_cmds = config_parser.add_subparsers(dest="config_command", metavar="COMMAND", parser_class=_Parser)
    config_cmds.required = True
    add(
        config_cmds,
        "check",
        cmd_config_check,
        "Validate the settings and print those in effect, secrets masked, with where each came from.",
    )

    secrets_parser = commands.add_parser(
        "secrets", help="Secrets at rest.", description="Secrets at rest.", parents=[common]
    )
    secrets_cmds = secrets_parser.add_subparsers(dest="secrets_command", metavar="COMMAND", parser_class=_Parser)
    secrets_cmds.required = True
    add(secrets_cmds, "rotate-key", cmd_secrets_rotate, "Re-seal every stored secret under a new key.")

    p = add(
        commands,
        "backup",
        cmd_backup,
        "Write one archive of the database (a consistent snapshot, also while serve runs) and the settings file.",
    )
    p.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="the archive (.tar.gz) or a folder for it (default: backups/ in the data dir, named by the UTC time)",
    )
    p.add_argument(
        "--include-key",
        action="store_true",
        help="also put the secret key in the archive, so that stored secrets open after a restore elsewhere",
    )
    p = add(
        commands,
        "restore",
        cmd_restore,
        "Restore a backup into an empty data dir and database, after checking the whole archive.",
    )
    p.add_argument("path", metavar="PATH", help="the archive written by `medianest backup`")
    p.add_argument("--force", action="store_true", help="replace the data and the database that are there")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except CliError as exc:
        print(f"medianest: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
