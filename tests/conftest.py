"""Helpers shared by the core's tests: example plugins, and plugins installed for a subprocess."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from medianest_core.testing import MEDIANEST, Server, free_port, run_cli

__all__ = ["MEDIANEST", "Server", "free_port", "install_fake_distribution", "run_cli"]


def install_fake_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write a distribution (its metadata and modules) into ``site``, as pip would, for a subprocess whose
    ``PYTHONPATH`` includes ``site``."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[medianest.plugins]\n{lines}")
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment for running ``medianest`` with its own data dir and nothing inherited that matters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env["MEDIANEST_DATA_DIR"] = str(tmp_path / "data")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture
def serve(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Server:
        server = Server(env or cli_env, tmp_path / f"serve-{len(servers)}.log", *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
