"""What a release of each distribution carries: its version in its CHANGELOG, a README that renders, the license,
every file its package needs (templates, static files, migrations) in the wheel, and links that resolve in the sdist.

The sdists and wheels are built here with hatchling (offline, about a second for all six), each wheel from its
unpacked sdist as a release builds it; with RELEASE_DIST_DIR set, the ones already in that folder are checked
instead (`.ci/run` points it at what `uv build --all-packages` made).
"""

from __future__ import annotations

import email
import email.message
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECTS = [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]
# Markdown links and images whose target is a path in the project: [text](path) or [text](path#anchor).
RELATIVE_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(?:#[^)\s]*)?\)")


@dataclass(frozen=True)
class Distribution:
    project: Path
    name: str
    version: str
    packages: tuple[str, ...]
    sdist: Path
    wheel: Path

    def sdist_names(self) -> set[str]:
        """The sdist's paths below its top folder (name-version/)."""
        with tarfile.open(self.sdist) as tar:
            return {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name and m.isfile()}

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as whl:
            return set(whl.namelist())

    def wheel_metadata(self) -> email.message.Message:
        with zipfile.ZipFile(self.wheel) as whl:
            return email.message_from_string(whl.read(f"{self.dist_info}/METADATA").decode("utf-8"))

    @property
    def dist_info(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.dist-info"


def _project_facts(project: Path) -> tuple[str, str, tuple[str, ...]]:
    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    packages = tuple(data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    return data["project"]["name"], data["project"]["version"], packages


def _build(project: Path, out: Path) -> tuple[Path, Path]:
    """An sdist of the project, and a wheel built from that sdist unpacked (so the sdist must hold all it needs)."""
    from hatchling.builders.sdist import SdistBuilder
    from hatchling.builders.wheel import WheelBuilder

    (sdist,) = SdistBuilder(str(project)).build(directory=str(out))
    unpacked = out / "unpacked"
    with tarfile.open(sdist) as tar:
        tar.extractall(unpacked, filter="data")
    top = unpacked / Path(sdist).name.removesuffix(".tar.gz")
    (wheel,) = WheelBuilder(str(top)).build(directory=str(out))
    return Path(sdist), Path(wheel)


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Distribution]:
    given = os.environ.get("RELEASE_DIST_DIR")
    found: dict[str, Distribution] = {}
    for project in PROJECTS:
        name, version, packages = _project_facts(project)
        stem = f"{name.replace('-', '_')}-{version}"
        if given:
            sdist, wheel = Path(given) / f"{stem}.tar.gz", Path(given) / f"{stem}-py3-none-any.whl"
            assert sdist.is_file(), f"{given} has no sdist of {name} {version}"
            assert wheel.is_file(), f"{given} has no wheel of {name} {version}"
        else:
            sdist, wheel = _build(project, tmp_path_factory.mktemp(name))
        found[name] = Distribution(project, name, version, packages, sdist, wheel)
    return found


NAMES = [_project_facts(p)[0] for p in PROJECTS]


def test_every_distribution_is_checked() -> None:
    assert NAMES[0] == "medianest-core"
    assert set(NAMES[1:]) == {
        "medianest-plex",
        "medianest-overseerr",
        "medianest-tmdb",
        "medianest-uptime-kuma",
        "medianest-youtube",
    }


@pytest.mark.parametrize("name", NAMES)
def test_the_version_has_an_entry_in_the_changelog(name: str, distributions: dict[str, Distribution]) -> None:
    dist = distributions[name]
    changelog = dist.project / "CHANGELOG.md"
    assert changelog.is_file(), f"{name} has no CHANGELOG.md beside its pyproject.toml"
    headings = re.findall(r"^## \[?v?([^\]\s]+)", changelog.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert headings, f"{changelog} has no '## <version>' entry"
    assert headings[0] == dist.version, f"{changelog}'s newest entry is {headings[0]}, the version is {dist.version}"
    entry = changelog.read_text(encoding="utf-8").split(f"## {dist.version}", 1)[1].split("\n## ", 1)[0]
    assert len(entry.split()) >= 20, f"{changelog}'s entry for {dist.version} says next to nothing"


@pytest.mark.parametrize("name", NAMES)
def test_the_sdist_has_the_readme_changelog_license_and_what_they_link_to(
    name: str, distributions: dict[str, Distribution]
) -> None:
    dist = distributions[name]
    names = dist.sdist_names()
    for needed in ("pyproject.toml", "PKG-INFO", "README.md", "CHANGELOG.md", "LICENSE"):
        assert needed in names, f"the sdist of {name} has no {needed}"
    for doc in ("README.md", "CHANGELOG.md"):
        for target in RELATIVE_LINK.findall((dist.project / doc).read_text(encoding="utf-8")):
            path = target.rstrip("/")
            assert path in names or any(n.startswith(path + "/") for n in names), (
                f"{doc} of {name} links to {target}, which is not in its sdist"
            )


def _package_files(dist: Distribution) -> Iterator[str]:
    """Every file of the distribution's packages as the wheel names it (no byte code)."""
    for package in dist.packages:
        for path in sorted((dist.project / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo", ".pyd"}:
                yield path.relative_to(dist.project).as_posix()


@pytest.mark.parametrize("name", NAMES)
def test_the_wheel_holds_every_template_static_file_and_migration(
    name: str, distributions: dict[str, Distribution]
) -> None:
    dist = distributions[name]
    in_wheel = dist.wheel_names()
    expected = list(_package_files(dist))
    missing = [f for f in expected if f not in in_wheel]
    assert not missing, f"the wheel of {name} lacks {missing[:10]}"
    data = [f for f in expected if not f.endswith(".py")]
    if (dist.project / dist.packages[0] / "templates").is_dir() or name == "medianest-core":
        assert any("/templates/" in f for f in data), f"{name}'s wheel has no templates"
        assert any("/static/" in f for f in data), f"{name}'s wheel has no static files"


@pytest.mark.parametrize("name", NAMES)
def test_the_metadata_is_honest_and_its_readme_is_markdown(name: str, distributions: dict[str, Distribution]) -> None:
    dist = distributions[name]
    meta = dist.wheel_metadata()
    assert meta["Name"] == name
    assert meta["Version"] == dist.version
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta["Author"] == "The MediaNest developers" or "The MediaNest developers" in (meta["Author-email"] or "")
    with zipfile.ZipFile(dist.wheel) as whl:
        license_text = whl.read(f"{dist.dist_info}/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    assert "The MediaNest developers" in license_text
    body = meta.get_payload()
    assert isinstance(body, str)
    assert body.strip() == (dist.project / "README.md").read_text(encoding="utf-8").strip()


@pytest.mark.parametrize("name", NAMES)
def test_the_readme_renders_as_a_package_index_shows_it(name: str, distributions: dict[str, Distribution]) -> None:
    from readme_renderer.markdown import render

    body = distributions[name].wheel_metadata().get_payload()
    assert isinstance(body, str)
    html = render(body)  # None when no Markdown renderer is installed: twine check would then not look at it
    assert html is not None, "readme_renderer has no Markdown renderer; twine check would not render the README"
    first_heading = body.splitlines()[0].removeprefix("# ")
    assert f">{first_heading}<" in html
    if re.search(r"^\|.*\|\n\|[ :|-]+\|$", body, flags=re.MULTILINE):
        assert "<table>" in html, "the README's tables did not render"


def test_twine_check_strict_passes(distributions: dict[str, Distribution]) -> None:
    files = [str(p) for d in distributions.values() for p in (d.sdist, d.wheel)]
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == len(files), done.stdout
