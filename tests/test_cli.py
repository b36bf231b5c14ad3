"""The ``medianest`` command as a person at a terminal uses it: real subprocesses, exit codes and what is printed.

Bad input ends with exit code 2 and one line on standard error; a service that cannot be used ends with exit
code 1 and one line; no traceback ever reaches the terminal.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import secrets
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, run_cli

from medianest_core.crypto import CryptoError, Keyring, KeySource, decode_key, load_keyring
from medianest_core.models import ServiceSetting
from medianest_core.runtime import build_runtime, prepare_database
from medianest_core.settings import load_settings
from medianest_core.testing import DATABASE_ENV, _create_database, _drop_database, skip_or_fail

PLUGINS = ("overseerr", "plex", "tmdb", "uptime_kuma", "youtube")
NOT_SET_UP = ("overseerr", "plex", "tmdb", "uptime_kuma")  # on a fresh install: they need an address or a key
TOKEN_CONTEXT = "service_settings.secret"


def only_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line the command wrote on standard error; fails if there are more, or a traceback."""
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def argparse_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of an argparse rejection (the usage lines before it aside)."""
    assert "Traceback" not in result.stdout + result.stderr
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith("usage:") and not line.startswith(" ")
    ]
    assert len(lines) == 1, result.stderr
    return lines[0]


def table(stdout: str) -> dict[str, list[str]]:
    """Rows of a table printed by the command, by their first column (the header left out)."""
    rows = [re.split(r" {2,}", line.strip()) for line in stdout.strip().splitlines()[1:]]
    return {row[0]: row[1:] for row in rows}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- version and help ----------------------------------------------------------------------------------------


def test_version(cli_env: dict[str, str]) -> None:
    from medianest_core import __version__

    result = run_cli("--version", env=cli_env)
    assert result.returncode == 0
    assert result.stdout.strip() == f"medianest {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        "",
        "serve",
        "worker",
        "db",
        "db upgrade",
        "db status",
        "user",
        "user create",
        "user create-admin",
        "user list",
        "plugins",
        "config",
        "config check",
        "secrets",
        "secrets rotate-key",
    ],
)
def test_help_of_every_command(cli_env: dict[str, str], command: str) -> None:
    result = run_cli(*command.split(), "--help", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith(f"usage: {' '.join(['medianest', *command.split()])} ")


# ---- plugins ---------------------------------------------------------------------------------------------------


def test_plugins_lists_the_installed_plugins_as_table_and_json(cli_env: dict[str, str]) -> None:
    result = run_cli("plugins", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["NAME", "VERSION", "STATUS", "REASON"]
    rows = table(result.stdout)
    assert sorted(rows) == sorted(PLUGINS)
    # A fresh install: YouTube downloads works with its defaults; the other services wait for their settings.
    assert rows["youtube"][1:] == ["loaded"], result.stdout
    for name in NOT_SET_UP:
        assert rows[name][1:] == ["not set up", f"set it up in [plugins.{name}] or on the admin's Services page"]

    as_json = run_cli("plugins", "--json", env=cli_env)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert {p["name"]: (p["version"], p["status_label"] if p["set_up"] else "not set up") for p in doc} == {
        name: (row[0], row[1]) for name, row in rows.items()
    }
    assert all(p["status"] == "loaded" and p["reason"] is None for p in doc)


# ---- bad settings ----------------------------------------------------------------------------------------------


BAD_FILES = [
    pytest.param("prot = 8080\n", "prot: unknown key (did you mean 'port'?)", id="typo"),
    pytest.param('port = "x"\n', "port: expected a whole number, got 'x'", id="wrong-type"),
    pytest.param('public_url = "ftp://x"\n', "public_url: expected an http:// or https:// URL", id="bad-url"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_settings_file_is_one_line_and_exit_2(
    cli_env: dict[str, str], tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path / "settings.toml", text)

    check = run_cli("config", "check", "--config", str(path), env=cli_env)
    assert check.returncode == 2
    line = only_line(check)
    assert message in line
    assert str(path) in line  # where the bad value came from

    # serve reads the same file through MEDIANEST_CONFIG and refuses it the same way, before listening.
    serve = run_cli("serve", "--port", str(free_port()), env={**cli_env, "MEDIANEST_CONFIG": str(path)})
    assert serve.returncode == 2
    assert only_line(serve) == line


def test_config_option_after_a_group(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "prot = 8080\n")
    for args in (
        ("db", "--config", str(path), "status"),
        ("--config", str(path), "db", "status"),
        ("db", "status", "--config", str(path)),
    ):
        result = run_cli(*args, env=cli_env)
        assert result.returncode == 2, args
        assert "prot: unknown key (did you mean 'port'?)" in only_line(result), args

    good = write(tmp_path / "good.toml", "port = 9123\n")
    result = run_cli("config", "--config", str(good), "check", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^port = 9123 +# file {re.escape(str(good))}$", result.stdout, re.MULTILINE), result.stdout


def test_bad_value_from_the_environment_names_the_variable(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "MEDIANEST_PORT": "abc"}
    for args in (("config", "check"), ("serve",)):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, args
        line = only_line(result)
        assert "port: expected a whole number, got 'abc'" in line
        assert "MEDIANEST_PORT" in line


def test_missing_settings_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = run_cli("config", "check", env={**cli_env, "MEDIANEST_CONFIG": str(missing)})
    assert result.returncode == 2
    assert str(missing) in only_line(result)


def test_bad_plugin_section(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", "[plugins.youtube]\nconcurrent_downloads = 99\n")

    check = run_cli("config", "check", "--config", str(path), env=cli_env)
    assert check.returncode == 2
    assert "plugins.youtube.concurrent_downloads" in only_line(check)

    # Listing the plugins is how one finds out what is wrong: it succeeds and says so per plugin.
    listing = run_cli("plugins", "--config", str(path), env=cli_env)
    assert listing.returncode == 0, listing.stderr
    rows = table(listing.stdout)
    assert rows["youtube"][1] == "bad settings"
    assert "plugins.youtube.concurrent_downloads" in rows["youtube"][2]
    assert "99" in rows["youtube"][2]
    assert {name: row[1] for name, row in rows.items() if name != "youtube"} == {
        name: "not set up" for name in NOT_SET_UP
    }


def test_unknown_plugin_section(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", '[plugins.plexx]\nurl = "http://plex.local:32400"\n')
    result = run_cli("config", "check", "--config", str(path), env=cli_env)
    assert result.returncode == 2
    line = only_line(result)
    assert "plugins.plexx" in line
    assert "did you mean 'plex'" in line


def test_config_check_shows_effective_settings_with_secrets_masked(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write(tmp_path / "settings.toml", 'port = 9123\n\n[plugins.plex]\nurl = "http://plex.local:32400"\n')
    env = {**cli_env, "MEDIANEST_PLEX_TOKEN": "supersecret123"}
    result = run_cli("config", "check", "--config", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert "supersecret123" not in result.stdout + result.stderr

    sections: dict[str, dict[str, str]] = {}
    current = ""
    for line in result.stdout.splitlines():
        if line.startswith("[plugins."):
            current = line.split("]", 1)[0][1:]
        elif " = " in line:
            key, rest = line.split(" = ", 1)
            sections.setdefault(current, {})[key] = rest
    # Each value with where it came from: "<value>  # <source>".
    assert re.fullmatch(rf"9123 +# file {re.escape(str(path))}", sections[""]["port"])
    assert re.fullmatch(r"\"127\.0\.0\.1\" +# default", sections[""]["host"])
    assert re.fullmatch(r"\"\*{8}\" +# env MEDIANEST_PLEX_TOKEN", sections["plugins.plex"]["token"])
    assert re.fullmatch(
        rf"\"http://plex\.local:32400\" +# file {re.escape(str(path))}", sections["plugins.plex"]["url"]
    )
    assert sorted(s for s in sections if s) == [f"plugins.{name}" for name in PLUGINS]


def test_numbers_out_of_bounds_are_one_line_and_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    cases = [
        ("[plugins.plex]\nrefresh_interval = -5\n", "plugins.plex.refresh_interval: expected 0.1 to 86400 seconds"),
        ("[plugins.plex]\nrefresh_interval = 0\n", "plugins.plex.refresh_interval: expected 0.1 to 86400 seconds"),
        ("[plugins.plex]\nrefresh_interval = 1e-9\n", "plugins.plex.refresh_interval: expected 0.1 to 86400 seconds"),
        ("[plugins.plex]\nrefresh_interval = nan\n", "plugins.plex.refresh_interval: expected a finite number"),
        ("shutdown_timeout = nan\n", "shutdown_timeout: expected a finite number, got nan"),
        ("[plugins.youtube]\nimport_wait = inf\n", "plugins.youtube.import_wait: expected a finite number"),
    ]
    for text, message in cases:
        path = write(tmp_path / "settings.toml", text)
        result = run_cli("config", "check", "--config", str(path), env=cli_env)
        assert result.returncode == 2, (text, result.stdout)
        line = only_line(result)
        assert message in line, text
        assert line.endswith(f"(from {path})"), line


def test_a_settings_file_that_is_not_utf8_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_bytes(b'port = 8080\n[plugins.plex]\nproduct = "Caf\xe9"\n')
    for args in (("config", "check"), ("serve", "--port", str(free_port()))):
        result = run_cli(*args, env={**cli_env, "MEDIANEST_CONFIG": str(path)})
        assert result.returncode == 2, args
        assert only_line(result) == f"medianest: bad settings: {path}: not valid TOML: not UTF-8 text (at line 3)"


def test_a_settings_path_that_is_a_directory_is_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    named = tmp_path / "conf.d"
    named.mkdir()
    result = run_cli("config", "check", "--config", str(named), env=cli_env)
    assert result.returncode == 2
    assert only_line(result) == f"medianest: bad settings: {named}: is a directory, not a settings file"
    # At the default place it used to be passed over, and the defaults used.
    default = Path(cli_env["MEDIANEST_DATA_DIR"]) / "medianest.toml"
    default.mkdir(parents=True)
    result = run_cli("config", "check", env=cli_env)
    assert result.returncode == 2
    assert only_line(result) == f"medianest: bad settings: {default}: is a directory, not a settings file"


def test_a_password_that_is_not_utf8_is_one_line(cli_env: dict[str, str]) -> None:
    password = os.fsdecode(b"caf\xe9 au lait, long enough")
    result = run_cli("user", "create", "zoe", env={**cli_env, "MEDIANEST_PASSWORD": password}, stdin="")
    assert result.returncode == 2
    assert only_line(result) == "medianest: MEDIANEST_PASSWORD is not valid UTF-8 text"
    assert run_cli("user", "list", "--json", env=cli_env).stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        "config check",
        "plugins",
        "db status",
        "db upgrade",
        "user list",
        "user create zoe",
        "secrets rotate-key",
        "serve",
        "worker",
    ],
)
def test_a_data_dir_that_cannot_be_a_directory_is_one_line(cli_env: dict[str, str], command: str) -> None:
    env = {**cli_env, "MEDIANEST_DATA_DIR": "/dev/null", "MEDIANEST_PASSWORD": "a long enough password"}
    result = run_cli(*command.split(), env=env, stdin="")
    assert result.returncode == 2, result.stdout
    assert only_line(result) == (
        "medianest: bad settings: data_dir: /dev/null is not a directory (from MEDIANEST_DATA_DIR)"
    )


def test_serve_refuses_a_host_that_is_no_address(cli_env: dict[str, str]) -> None:
    result = run_cli("serve", "--host", "not a host!", "--port", str(free_port()), env=cli_env)
    assert result.returncode == 2
    assert "--host: expected an IP address or a host name, got 'not a host!'" in argparse_error(result)
    from_settings = run_cli("serve", env={**cli_env, "MEDIANEST_HOST": "not a host!"})
    assert from_settings.returncode == 2
    assert "host: expected an IP address or a host name" in only_line(from_settings)


def test_serve_on_a_port_in_use_stays_exit_1(cli_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--host", "127.0.0.1", "--port", str(port), env=cli_env)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in only_line(result)


def test_config_check_refuses_a_bad_secret_key_as_other_commands_do(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "MEDIANEST_SECRET_KEY": "garbage"}
    for args in (("config", "check"), ("db", "status")):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, args
        assert only_line(result) == "medianest: secret key: secret_key: not a base64 key", args


def test_passwords_in_plugin_urls_are_masked(cli_env: dict[str, str]) -> None:
    # The reason a URL is refused quotes it; its password is masked, in text and JSON alike.
    env = {**cli_env, "MEDIANEST_PLEX_URL": "ftp://u:pw@h/"}
    listing = run_cli("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    assert (
        "plugins.plex.url: expected an http:// or https:// URL with a host, got 'ftp://u:********@h/'"
        in (table(listing.stdout)["plex"][2])
    )
    as_json = run_cli("plugins", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    reason = {p["name"]: p["reason"] for p in json.loads(as_json.stdout)}["plex"]
    assert "'ftp://u:********@h/'" in reason
    check = run_cli("config", "check", env=env)
    assert check.returncode == 2
    assert "'ftp://u:********@h/'" in only_line(check)
    # A good URL with a password is shown masked among the settings in effect.
    good = {**cli_env, "MEDIANEST_PLEX_URL": "http://u:pw@plex.local:32400", "MEDIANEST_PUBLIC_URL": "ftp://u:pw@h/"}
    core = run_cli("config", "check", env=good)
    assert core.returncode == 2
    assert "public_url: expected an http:// or https:// URL with a host, got 'ftp://u:********@h/'" in only_line(core)
    good.pop("MEDIANEST_PUBLIC_URL")
    shown = run_cli("config", "check", env=good)
    assert shown.returncode == 0, shown.stderr
    assert '"http://u:********@plex.local:32400"' in shown.stdout
    for result in (listing, as_json, check, core, shown):
        assert "pw" not in result.stdout + result.stderr


# ---- users -----------------------------------------------------------------------------------------------------


def test_user_accounts(cli_env: dict[str, str], tmp_path: Path) -> None:
    admin = run_cli(
        "user", "create-admin", "alice", env={**cli_env, "MEDIANEST_PASSWORD": "correct horse battery"}, stdin=""
    )
    assert admin.returncode == 0, admin.stderr
    assert "alice" in admin.stdout

    user = run_cli("user", "create", "bob", env=cli_env, stdin="bob's long password\nignored\n")
    assert user.returncode == 0, user.stderr

    listing = run_cli("user", "list", env=cli_env)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].split() == ["ID", "USERNAME", "ROLE", "STATUS", "CREATED"]
    rows = {row[0]: row[1:3] for row in table(listing.stdout).values()}
    assert rows == {"alice": ["admin", "active"], "bob": ["user", "active"]}

    as_json = run_cli("user", "list", "--json", env=cli_env)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert [(u["username"], u["role"], u["status"]) for u in doc] == [
        ("alice", "admin", "active"),
        ("bob", "user", "active"),
    ]

    again = run_cli(
        "user", "create-admin", "alice", env={**cli_env, "MEDIANEST_PASSWORD": "another password"}, stdin=""
    )
    assert again.returncode == 2
    assert "already exists" in only_line(again)
    # Usernames are told apart without regard to case.
    upper = run_cli("user", "create", "ALICE", env=cli_env, stdin="yet another password\n")
    assert upper.returncode == 2
    assert "already exists" in only_line(upper)

    short = run_cli("user", "create", "carol", env=cli_env, stdin="short\n")
    assert short.returncode == 2
    assert "at least 12 characters" in only_line(short)

    bad_name = run_cli("user", "create", "bad name", env=cli_env, stdin="a long enough password\n")
    assert bad_name.returncode == 2
    assert "bad name" in only_line(bad_name)

    wizard = run_cli("user", "create", "dave", "--role", "wizard", env=cli_env, stdin="a long enough password\n")
    assert wizard.returncode == 2
    assert "--role" in argparse_error(wizard)

    after = json.loads(run_cli("user", "list", "--json", env=cli_env).stdout)
    assert [u["username"] for u in after] == ["alice", "bob"]


def test_serve_rejects_an_impossible_port(cli_env: dict[str, str]) -> None:
    result = run_cli("serve", "--port", "99999", env=cli_env)
    assert result.returncode == 2
    assert "99999" in argparse_error(result)


def test_worker_needs_an_external_broker(cli_env: dict[str, str]) -> None:
    result = run_cli("worker", env=cli_env)
    assert result.returncode == 2
    assert "broker_url" in only_line(result)


# ---- database --------------------------------------------------------------------------------------------------


def test_db_upgrade_on_a_fresh_data_dir(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = run_cli("db", "status", env=cli_env)
    assert before.returncode == 1
    assert before.stdout.strip().splitlines()[-1] == "needs `medianest db upgrade`"

    result = run_cli("db", "upgrade", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert mode(data / "medianest.db") == 0o600
    assert mode(data / "secret.key") == 0o600

    status = run_cli("db", "status", env=cli_env)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip().splitlines()[-1] == "up to date"


# ---- secrets ---------------------------------------------------------------------------------------------------


def seal_plex_token(env: dict[str, str], value: str) -> None:
    """Store a sealed service setting, as the admin UI would, with the key the settings give."""

    async def main() -> None:
        runtime = build_runtime(load_settings(env=env))
        try:
            await prepare_database(runtime)
            async with runtime.sessions.begin() as session:
                session.add(
                    ServiceSetting(plugin="plex", key="token", secret=runtime.keyring.encrypt(value, TOKEN_CONTEXT))
                )
        finally:
            await runtime.close()

    asyncio.run(main())


def stored_plex_token(data: Path) -> str:
    with contextlib.closing(sqlite3.connect(data / "medianest.db")) as conn:
        row = conn.execute("SELECT secret FROM service_settings WHERE plugin = 'plex' AND key = 'token'").fetchone()
    assert row is not None
    return str(row[0])


def test_rotate_key_in_the_key_file(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"MEDIANEST_DATA_DIR": str(data)}
    seal_plex_token(env, "plex-token-value")
    key_file = data / "secret.key"
    old_text = key_file.read_text()
    old_key = decode_key(old_text, "old key")

    result = run_cli("secrets", "rotate-key", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "re-sealed 1 stored secret" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr

    assert key_file.read_text() != old_text
    assert mode(key_file) == 0o600
    assert not (data / "secret.key.new").exists()
    sealed = stored_plex_token(data)
    fresh = load_keyring(load_settings(env=env).settings, create=False)
    assert fresh.decrypt(sealed, TOKEN_CONTEXT) == "plex-token-value"
    with pytest.raises(CryptoError):
        Keyring(current=old_key, source=KeySource("file", key_file)).decrypt(sealed, TOKEN_CONTEXT)


def test_rotate_key_from_the_environment_prints_the_new_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    old_text = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    seal_plex_token({"MEDIANEST_DATA_DIR": str(data), "MEDIANEST_SECRET_KEY": old_text}, "plex-token-value")

    result = run_cli("secrets", "rotate-key", env={**cli_env, "MEDIANEST_SECRET_KEY": old_text})
    assert result.returncode == 0, result.stderr
    assert "re-sealed 1 stored secret" in result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    new_key = decode_key(lines[0], "printed key")
    assert new_key != decode_key(old_text, "old key")
    assert old_text not in result.stdout + result.stderr

    sealed = stored_plex_token(data)
    assert Keyring(current=new_key, source=KeySource("setting")).decrypt(sealed, TOKEN_CONTEXT) == "plex-token-value"
    with pytest.raises(CryptoError):
        Keyring(current=decode_key(old_text, "old key"), source=KeySource("setting")).decrypt(sealed, TOKEN_CONTEXT)


# ---- PostgreSQL ------------------------------------------------------------------------------------------------


@pytest.mark.production
def test_serve_refuses_an_out_of_date_postgresql_database(cli_env: dict[str, str], serve: Any) -> None:
    admin_url = os.environ.get(DATABASE_ENV)
    if not admin_url:
        skip_or_fail(f"{DATABASE_ENV} is not set")
        return
    name, url = asyncio.run(_create_database(admin_url))
    server = None
    try:
        env = {**cli_env, "MEDIANEST_DATABASE_URL": url}
        refused = run_cli("serve", "--port", str(free_port()), env=env)
        assert refused.returncode == 1
        assert "run `medianest db upgrade`" in only_line(refused)

        upgraded = run_cli("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr

        server = serve(env=env)
        server.wait_ready()
        assert server.get("/health") == (200, {"status": "ok"})
        status, doc = server.get("/api/v1/health")
        assert status == 200
        database = {c["name"]: c for c in doc["components"]}["database"]
        assert database["state"] == "up"
        assert "details" not in database  # the backend and its address are for admins
        assert server.stop() == 0
    finally:
        if server is not None:
            server.stop()
        asyncio.run(_drop_database(admin_url, name))
