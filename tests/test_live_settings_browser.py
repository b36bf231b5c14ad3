"""Saving a plugin's settings in a real browser: the page shows the plugin's new status at once, settings that fail
say why, and "Put back the previous settings" brings the plugin back in one click."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import install_fake_distribution

from medianest_core.testing import DESKTOP, Browsing, Server, browser_sign_in, require_chromium, run_cli, serve_env

ADMIN = ("root", "root-password-123")

require_chromium()

from playwright.sync_api import expect  # noqa: E402

LINK_PLUGIN = """
from typing import Any

import attrs
from aiohttp import web

from medianest_core import PluginContext, Route, hookimpl


@attrs.frozen
class LinkSettings:
    server: str = attrs.field(default="link.example", metadata={"label": "Server", "help": "Where the link goes."})


class Link:
    name = "link"
    title = "Link"
    version = "1.0"

    @hookimpl
    def settings_class(self) -> type[Any]:
        return LinkSettings

    @hookimpl
    async def startup(self, ctx: PluginContext) -> None:
        if ctx.settings.server.startswith("down"):
            raise ConnectionError(f"{ctx.settings.server} refused the connection")

    @hookimpl
    def api_routes(self, ctx: PluginContext) -> list[Route]:
        async def where(request: web.Request) -> web.Response:
            return web.json_response({"server": ctx.settings.server})

        return [Route("GET", "/where", where)]


plugin = Link()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("browser-live")
    site = root / "site"
    install_fake_distribution(site, "medianest-link", {"link": "link_plugin:plugin"}, {"link_plugin": LINK_PLUGIN})
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "PYTHONPATH": os.pathsep.join([str(site), str(Path(__file__).parent)]),
        },
    )
    done = run_cli("user", "create-admin", ADMIN[0], env=env, stdin=ADMIN[1] + "\n")
    assert done.returncode == 0, done.stderr
    with Server(env, root / "serve.log") as srv:
        yield srv


def test_saving_applies_at_once_and_failed_settings_are_put_back_in_one_click(
    server: Server, medianest_browsing: Browsing
) -> None:
    page = medianest_browsing.page(DESKTOP)
    browser_sign_in(page, server, ADMIN)
    page.goto(server.url + "/admin/services")
    section = page.locator("#service-link")
    expect(section.get_by_role("heading", name="Link", exact=True)).to_be_visible()

    section.get_by_label("Server").fill("first.example")
    with page.expect_navigation():
        section.get_by_role("button", name="Save Link").click()
    section = page.locator("#service-link")
    expect(section.get_by_label("Server")).to_have_value("first.example")
    expect(section).not_to_contain_text("restart")
    assert page.request.get(server.url + "/api/v1/link/where").json() == {"server": "first.example"}

    section.get_by_label("Server").fill("down.example")
    with page.expect_navigation():
        section.get_by_role("button", name="Save Link").click()
    expect(page.locator(".toast.level-warning")).to_have_text("Saved, but Link did not start: failed start-up.")
    section = page.locator("#service-link")
    expect(section.locator(".state")).to_have_text("failed start-up")
    expect(section.locator(".notice.warn")).to_contain_text("down.example refused the connection")
    put_back = section.get_by_role("button", name="Put back the previous settings")
    expect(put_back).to_be_visible()
    assert page.request.get(server.url + "/api/v1/link/where").status == 503
    medianest_browsing.snap(page, "services-failed")

    put_back.click()
    expect(page.locator(".toast.level-success")).to_have_text("Previous settings put back.")
    page.reload()
    section = page.locator("#service-link")
    expect(section.get_by_label("Server")).to_have_value("first.example")
    expect(section.locator(".notice.warn")).to_have_count(0)
    expect(section.locator(".state")).to_have_text("loaded")
    expect(section.get_by_role("button", name="Put back the previous settings")).to_have_count(0)
    assert page.request.get(server.url + "/api/v1/link/where").json() == {"server": "first.example"}
    medianest_browsing.snap(page, "services-put-back")
