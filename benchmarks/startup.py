"""Cold start and idle memory of ``medianest serve``.

Each run starts ``medianest serve`` twice on one fresh data directory: a *first start*, where the SQLite
database is created and migrated, then a *warm start* on the same directory, where it is already up to date.
Start time is the wall time from just before the process is spawned until ``GET /health`` answers 200; idle
memory is the resident set size (VmRSS) of the serving process after 2 s without requests. Every start must
report the bundled plugins loaded.

    .venv/bin/python benchmarks/startup.py [--runs N]

This is a measurement, not a test: it exits 0 when a figure is over its target and says ``OVER TARGET`` on that
line. It exits 1 only when MediaNest fails to start, to load a plugin or to stop.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
PLUGINS: Final = ("plex", "overseerr", "uptime_kuma", "youtube", "tmdb")
START_TARGET_S: Final = 1.5
# Idle resident memory: a first start also creates and migrates the database, so it is allowed more.
RSS_TARGET_MB: Final = {"first": 80.0, "warm": 64.0}
POLL_INTERVAL_S: Final = 0.005
IDLE_S: Final = 2.0
START_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0
# Loopback only, never through a proxy from the environment (http_proxy and friends).
OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class BenchmarkError(Exception):
    """MediaNest did not start, load its plugins or stop as it should; the message says which."""


@dataclass
class Sample:
    start_s: float
    rss_mb: float


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def starts(self) -> list[float]:
        return [s.start_s for s in self.samples]

    @property
    def rss(self) -> list[float]:
        return [s.rss_mb for s in self.samples]


def medianest_command() -> Path:
    """The ``medianest`` script of the Python running this benchmark (the same virtual environment)."""
    script = Path(sys.executable).parent / "medianest"
    if not script.is_file():
        raise BenchmarkError(f"{script} not found: run this with the Python of the MediaNest environment")
    return script


def clean_env(data_dir: Path) -> dict[str, str]:
    """The environment without the caller's MediaNest settings: defaults, SQLite in ``data_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIANEST_")}
    env["MEDIANEST_DATA_DIR"] = str(data_dir)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout: float = 1.0) -> tuple[int, bytes]:
    try:
        with OPENER.open(url, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def rss_mb(pid: int) -> float:
    """VmRSS of one process in MB (10^6 bytes); the kernel reports it in kB of 1024 bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1_000_000
    raise BenchmarkError(f"no VmRSS in /proc/{pid}/status")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def check_plugins(base: str) -> None:
    """The serving process reports every bundled plugin loaded: state "up" in /api/v1/health, or "not_set_up" for
    a loaded plugin whose service has no settings yet (the default here)."""
    status, body = get(f"{base}/api/v1/health", timeout=5.0)
    if status != 200:
        raise BenchmarkError(f"GET /api/v1/health answered {status}: {body[:300]!r}")
    doc: dict[str, Any] = json.loads(body)
    states = {c["name"]: c["state"] for c in doc.get("components", []) if c.get("kind") == "plugin"}
    bad = {name: states.get(name, "missing") for name in PLUGINS if states.get(name) not in ("up", "not_set_up")}
    if bad:
        shown = ", ".join(f"{name}: {state}" for name, state in sorted(bad.items()))
        raise BenchmarkError(f"plugins not loaded in the serving process: {shown}")


def check_plugins_cli(script: Path, env: dict[str, str]) -> None:
    """``medianest plugins --json`` lists every bundled plugin as loaded; otherwise say why not."""
    proc = subprocess.run(
        [str(script), "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"medianest plugins --json failed ({proc.returncode}): {proc.stderr.strip()}")
    records = {r["name"]: r for r in json.loads(proc.stdout)}
    problems = []
    for name in PLUGINS:
        record = records.get(name)
        if record is None:
            problems.append(f"{name}: not installed")
        elif record["status"] != "loaded":
            problems.append(f"{name}: {record['status']} ({record.get('reason')})")
    if problems:
        raise BenchmarkError("plugins not loaded: " + "; ".join(problems))


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise BenchmarkError(f"medianest serve did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM") from None
    if code != 0:
        raise BenchmarkError(f"medianest serve exited with {code} after SIGTERM:\n{log_tail(log)}")


def start_once(script: Path, data_dir: Path, log: Path) -> Sample:
    """Start ``medianest serve``, time it until /health answers, measure idle RSS, check plugins, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [str(script), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("ab") as out:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, env=clean_env(data_dir), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        while True:
            if proc.poll() is not None:
                raise BenchmarkError(
                    f"medianest serve exited with {proc.returncode} before answering:\n{log_tail(log)}"
                )
            try:
                if get(f"{base}/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.perf_counter() - began > START_TIMEOUT_S:
                raise BenchmarkError(f"/health did not answer 200 within {START_TIMEOUT_S:g} s:\n{log_tail(log)}")
            time.sleep(POLL_INTERVAL_S)
        elapsed = time.perf_counter() - began
        time.sleep(IDLE_S)
        rss = rss_mb(proc.pid)
        extra = children(proc.pid)
        if extra:
            print(f"  note: medianest serve has child processes {extra}; their memory is not counted", file=sys.stderr)
        check_plugins(base)
    finally:
        stop(proc, log)
    return Sample(elapsed, rss)


def compile_sources() -> None:
    """Byte-compile the source tree once, as an installed package would be: the environment may set
    PYTHONDONTWRITEBYTECODE, and without .pyc files every start would compile the sources again."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "medianest_core", "plugins"], cwd=ROOT, check=True)


FLOOR_IMPORTS: Final = (
    "aiohttp.web",
    "sqlalchemy.orm",
    "sqlalchemy.ext.asyncio",
    "aiosqlite",
    "structlog",
    "attrs",
    "cattrs",
    "pluggy",
    "prometheus_client",
    "dramatiq",
    "jinja2",
    "aiohttp_jinja2",
)
"""The libraries every ``serve`` loads, whatever it is asked: what no change to MediaNest's own code can avoid."""

FLOOR_SCRIPT: Final = """
import importlib, sys, time
for name in sys.argv[1:]:
    importlib.import_module(name)
time.sleep(0.5)
print(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
"""


def library_floor() -> float:
    """The resident memory (MB) of a Python process of this environment that has imported :data:`FLOOR_IMPORTS`
    and nothing of MediaNest."""
    out = subprocess.run(
        [sys.executable, "-c", FLOOR_SCRIPT, *FLOOR_IMPORTS], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1]) * 1024 / 1e6


def verdict(value: float, target: float) -> str:
    ratio = value / target
    return f"ratio {ratio:.2f})" + ("  OVER TARGET" if ratio > 1 else "")


def report(series: Sequence[Series], runs: int, floor: float) -> None:
    rows: list[tuple[str, str]] = []
    for s in series:
        med = statistics.median(s.starts)
        rows.append(
            (
                f"{s.name} start",
                f"median {med:.2f} s  min {min(s.starts):.2f} s  max {max(s.starts):.2f} s  "
                f"(target {START_TARGET_S:.2f} s, {verdict(med, START_TARGET_S)}",
            )
        )
    for s in series:
        med = statistics.median(s.rss)
        rows.append(
            (
                f"idle RSS, {s.name}",
                f"median {med:.1f} MB  min {min(s.rss):.1f} MB  max {max(s.rss):.1f} MB  "
                f"(target {RSS_TARGET_MB[s.name]:.0f} MB, {verdict(med, RSS_TARGET_MB[s.name])}",
            )
        )
    rows.append(("libraries alone", f"{floor:.1f} MB  (a Python process with {', '.join(FLOOR_IMPORTS)} imported)"))
    print(f"medianest serve, {runs} run(s): SQLite, in-process broker, plugins {', '.join(sorted(PLUGINS))}")
    width = max(len(label) for label, _ in rows)
    for label, figures in rows:
        print(f"{label.ljust(width)}  {figures}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Cold start time and idle memory of `medianest serve`.")
    parser.add_argument("--runs", type=int, default=7, help="runs, each a first and a warm start (default 7)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    first, warm = Series("first"), Series("warm")
    try:
        script = medianest_command()
        compile_sources()
        with tempfile.TemporaryDirectory(prefix="medianest-bench-") as tmp:
            check_plugins_cli(script, clean_env(Path(tmp)))
        for run in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="medianest-bench-") as tmp:
                data_dir = Path(tmp) / "data"
                data_dir.mkdir()
                log = Path(tmp) / "serve.log"
                first.samples.append(start_once(script, data_dir, log))
                warm.samples.append(start_once(script, data_dir, log))
            print(
                f"run {run}/{args.runs}: first {first.samples[-1].start_s:.3f} s "
                f"{first.samples[-1].rss_mb:.1f} MB, warm {warm.samples[-1].start_s:.3f} s "
                f"{warm.samples[-1].rss_mb:.1f} MB",
                file=sys.stderr,
            )
    except BenchmarkError as exc:
        print(f"startup benchmark FAILED: {exc}", file=sys.stderr)
        return 1
    report([first, warm], args.runs, library_floor())
    return 0


if __name__ == "__main__":
    sys.exit(main())
