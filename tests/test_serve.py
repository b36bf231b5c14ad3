"""``medianest serve`` end to end: a real process on a free port, asked over HTTP, stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import socket
import stat
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from conftest import free_port, install_fake_distribution, run_cli

PLUGINS = ("overseerr", "plex", "tmdb", "uptime_kuma", "youtube")
NOT_SET_UP = ("overseerr", "plex", "tmdb", "uptime_kuma")  # on a fresh install: they need an address or a key


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines serve wrote (its standard output is a file, so it logs JSON)."""
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["components"]}


def test_serve_on_a_fresh_data_dir(serve: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert not data.exists()
    server = serve()
    server.wait_ready()

    assert server.get("/health") == (200, {"status": "ok"})
    status, doc = server.get("/api/v1/health")
    assert status == 200
    parts = components(doc)
    assert parts["database"]["state"] == "up"
    assert parts["broker"]["state"] == "up"
    plugins = {name: c for name, c in parts.items() if c["kind"] == "plugin"}
    assert sorted(plugins) == sorted(PLUGINS)
    # Only YouTube downloads works with its defaults; the others are not set up, neither up nor down.
    assert {name: c["state"] for name, c in plugins.items()} == {
        **{name: "not_set_up" for name in NOT_SET_UP},
        "youtube": "up",
    }
    assert doc["status"] == "ok"
    assert all("details" not in c for c in doc["components"])  # anonymous readers get no details

    for name in ("medianest.db", "secret.key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name

    assert server.stop() == 0
    events = [line["event"] for line in log_lines(server.log)]
    assert "serving" in events
    assert events[-1] == "stopped", events


def test_broken_plugins_leave_the_rest_serving(serve: Any, cli_env: dict[str, str], tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_fake_distribution(
        site,
        "brokenplug",
        {"broken": "brokenplug:plugin"},
        {"brokenplug": "raise RuntimeError('the driver is missing')"},
    )
    settings = tmp_path / "settings.toml"
    settings.write_text("[plugins.youtube]\nconcurrent_downloads = 99\n")
    env = {
        **cli_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), cli_env.get("PYTHONPATH")])),
        "MEDIANEST_CONFIG": str(settings),
    }

    server = serve(env=env)
    server.wait_ready()
    assert server.get("/health") == (200, {"status": "ok"})
    status, doc = server.get("/api/v1/health")
    assert status == 200
    assert doc["status"] == "degraded"
    parts = components(doc)
    assert parts["broken"]["state"] == "down"
    assert parts["broken"]["message"] == "failed to import"
    assert parts["youtube"]["state"] == "down"
    assert parts["youtube"]["message"] == "bad settings"
    assert {name: parts[name]["state"] for name in PLUGINS if name != "youtube"} == {
        name: "not_set_up" for name in NOT_SET_UP
    }
    assert parts["database"]["state"] == "up"

    listing = run_cli("plugins", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {}
    for line in listing.stdout.splitlines()[1:]:
        name, _version, rest = line.split(None, 2)
        rows[name] = rest
    assert rows["broken"].startswith("failed to import")
    assert "RuntimeError: the driver is missing" in rows["broken"]
    assert rows["youtube"].startswith("bad settings")
    assert "plugins.youtube.concurrent_downloads" in rows["youtube"]

    failed = {line["plugin"]: line for line in log_lines(server.log) if line["event"] == "plugin_failed"}
    assert set(failed) == {"broken", "youtube"}
    assert "RuntimeError: the driver is missing" in failed["broken"]["reason"]
    assert "plugins.youtube.concurrent_downloads" in failed["youtube"]["reason"]
    assert server.stop() == 0


def test_plugin_whose_name_differs_from_its_entry_point(serve: Any, cli_env: dict[str, str], tmp_path: Path) -> None:
    site = tmp_path / "site"
    source = "class P:\n    name = 'other'\n    version = '1.0'\n\n\nplugin = P()\n"
    install_fake_distribution(site, "misnamed", {"misnamed": "misnamed:plugin"}, {"misnamed": source})
    env = {**cli_env, "PYTHONPATH": str(site)}

    server = serve(env=env)
    server.wait_ready()
    status, doc = server.get("/api/v1/health")
    assert status == 200
    assert doc["status"] == "degraded"
    assert components(doc)["misnamed"]["state"] == "down"
    assert components(doc)["misnamed"]["message"] == "failed to import"
    failed = [line for line in log_lines(server.log) if line["event"] == "plugin_failed"]
    assert [line["plugin"] for line in failed] == ["misnamed"]
    assert "the names must match" in failed[0]["reason"]
    assert "'other'" in failed[0]["reason"]


def test_request_id_is_echoed_and_logged(serve: Any) -> None:
    server = serve()
    server.wait_ready()
    request_id = f"test-{uuid.uuid4().hex}"
    request = urllib.request.Request(server.url + "/api/v1/health", headers={"X-Request-ID": request_id})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == request_id
    # Without one, serve makes one up and still returns it.
    with urllib.request.urlopen(server.url + "/api/v1/health", timeout=10) as resp:
        made = resp.headers["X-Request-ID"]
    assert made
    assert made != request_id

    assert server.stop() == 0
    lines = [line for line in log_lines(server.log) if line.get("request_id") == request_id]
    assert len(lines) == 1, lines
    assert lines[0]["event"] == "request"
    assert lines[0]["route"] == "/api/v1/health"
    assert lines[0]["status"] == 200


def test_port_already_in_use(cli_env: dict[str, str]) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run_cli("serve", "--port", str(port), env=cli_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]


def test_a_migration_that_fails_apart_ends_serve_with_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A first start migrates in a child process; when that fails, serve says why in one line, as before."""
    import sqlite3

    data = Path(cli_env["MEDIANEST_DATA_DIR"])
    data.mkdir(parents=True)
    with sqlite3.connect(data / "medianest.db") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('f00dfacefeed')")  # no such revision here
    result = run_cli("serve", "--port", str(free_port()), env=cli_env)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "f00dfacefeed" in lines[0]
