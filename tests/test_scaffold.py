"""`medianest plugin new NAME`: a plugin's distribution that installs with pip and passes its own tests at once;
bad input is one line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from medianest_core.cli import main
from medianest_core.plugins import ENTRY_POINT_GROUP
from medianest_core.testing import clean_env

ROOT = Path(__file__).resolve().parents[1]
"""The checkout, where medianest-core's pyproject.toml is."""


def new(name: str, where: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["plugin", "new", name, "--dir", str(where)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "name", ["Demo", "my-plugin", "9lives", "_demo", "demo_", "two__bars", "with space", "", "a" * 41]
)
def test_a_name_that_is_not_a_lowercase_identifier_is_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = new(name, tmp_path, capsys)
    assert code == 2
    assert err == (
        f"medianest: {name!r} is not a plugin name: use a lowercase identifier, such as 'weather' or "
        "'home_assistant' (a letter, then up to 39 letters, digits or single underscores)\n"
    )
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_a_name_the_core_keeps_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = new("admin", tmp_path, capsys)
    assert (code, err) == (2, "medianest: 'admin' is a name MediaNest keeps for itself: choose another\n")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_there_and_not_empty_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "medianest-demo"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    code, out, err = new("demo", tmp_path, capsys)
    assert code == 2
    assert err == f"medianest: {mine} already exists and is not empty: choose another --dir or remove it\n"
    assert out == ""
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]

    (tmp_path / "file").write_text("")
    code, _, err = new("demo", tmp_path / "file", capsys)
    assert (code, err) == (2, f"medianest: {tmp_path / 'file'} is not a folder\n")


def test_it_makes_a_distribution_named_after_the_plugin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "medianest-home-assistant").mkdir()  # an empty folder is used
    code, out, err = new("home_assistant", tmp_path, capsys)
    assert (code, err) == (0, "")
    made = tmp_path / "medianest-home-assistant"
    assert out.startswith(f"made {made}: ")
    project = tomllib.loads((made / "pyproject.toml").read_text())
    assert project["project"]["name"] == "medianest-home-assistant"
    entry_points = project["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert entry_points == {"home_assistant": "medianest_home_assistant:plugin"}
    assert project["tool"]["pytest"]["ini_options"]["asyncio_default_fixture_loop_scope"] == "function"
    files = {p.relative_to(made).as_posix() for p in made.rglob("*") if p.is_file()}
    assert {
        "README.md",
        "medianest_home_assistant/__init__.py",
        "medianest_home_assistant/migrations/home_assistant_0001_items.py",
        "medianest_home_assistant/templates/home_assistant/home.html",
        "tests/test_home_assistant.py",
    } <= files
    assert not [f for f in files if "NAME" in f or "__NAME__" in (made / f).read_text()]
    assert 'title = "Home assistant"' in (made / "medianest_home_assistant/__init__.py").read_text()


@pytest.mark.timeout(900)
def test_the_scaffold_installs_with_pip_passes_its_own_tests_and_loads(tmp_path: Path) -> None:
    """A fresh virtual environment: the core from this checkout, the new plugin, its tests, `medianest plugins`."""
    env = {key: value for key, value in clean_env().items() if key not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    made = subprocess.run(
        [str(Path(sys.executable).with_name("medianest")), "plugin", "new", "demo", "--dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    plugin = tmp_path / "medianest-demo"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)

    def run(*args: str, cwd: Path = tmp_path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    pip = (str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    core = run(*pip, f"{ROOT}[testing]")
    assert core.returncode == 0, core.stdout + core.stderr
    installed = run(*pip, "-e", f"{plugin}[test]")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    tested = run(str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", cwd=plugin, timeout=300)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "3 passed" in tested.stdout, tested.stdout
    assert "warning" not in tested.stdout.lower(), tested.stdout

    env["MEDIANEST_DATA_DIR"] = str(tmp_path / "data")
    listed = run(str(venv / "bin" / "medianest"), "plugins", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {p["name"]: p["status"] for p in json.loads(listed.stdout)} == {"demo": "loaded"}
