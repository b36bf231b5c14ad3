"""The plugin contract is documented: every hook and every argument, in the hook and in docs/plugins.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from medianest_core import hookspecs

DOC = Path(__file__).parents[1] / "docs" / "plugins.md"


def hooks() -> list[str]:
    return sorted(
        name for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "medianest_spec")
    )


def sections() -> dict[str, str]:
    text = DOC.read_text()
    found: dict[str, str] = {}
    parts = re.split(r"^### ", text, flags=re.MULTILINE)
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        found[heading.strip().strip("`")] = body.split("\n## ", 1)[0]
    return found


def test_the_contract_has_the_hooks_plugins_need() -> None:
    assert set(hooks()) >= {
        "settings_class", "startup", "shutdown", "api_routes", "pages", "dashboard_cards", "health_checks",
        "nav_links", "login_providers", "search_providers", "actors", "periodic_tasks", "ws_commands",
        "event_subscriptions", "web_assets", "migrations",
    }  # fmt: skip


@pytest.mark.parametrize("name", hooks())
def test_every_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name))
    assert doc, f"hook {name} has no docstring"
    assert len(doc) > 40


@pytest.mark.parametrize("name", hooks())
def test_every_hook_and_argument_is_in_the_plugin_guide(name: str) -> None:
    documented = sections()
    assert name in documented, f"docs/plugins.md has no '### {name}' section"
    body = documented[name]
    for arg in inspect.signature(getattr(hookspecs, name)).parameters:
        assert f"`{arg}`" in body, f"docs/plugins.md does not describe the argument `{arg}` of {name}"
    if not inspect.signature(getattr(hookspecs, name)).parameters:
        assert re.search(r"Arguments:\W*none", body), f"{name}: say that it takes no arguments"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert set(sections()) <= set(hooks())
