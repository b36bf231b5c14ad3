"""The admin pages speak to people: the audit log's details read as text, service settings have titles, labels and
help, and settings set in the settings file or the environment look locked and say where to change them."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import attrs
import pytest
from example_plugins import Greeter

from medianest_core import audit, keys
from medianest_core.audit import AuditAction
from medianest_core.testing import entry_point, sign_in

ENV = {"MEDIANEST_GREETER_GREETING": "hi from the environment"}
TITLES = {
    "plex": "Plex",
    "overseerr": "Overseerr",
    "tmdb": "TMDB",
    "uptime_kuma": "Uptime Kuma",
    "youtube": "YouTube downloads",
}


def bundled() -> dict[str, Any]:
    """The plugins that ship with MediaNest, by name."""
    from medianest_overseerr import plugin as overseerr
    from medianest_plex import plugin as plex
    from medianest_tmdb import plugin as tmdb
    from medianest_uptime_kuma import plugin as uptime_kuma
    from medianest_youtube import plugin as youtube

    return {"plex": plex, "overseerr": overseerr, "tmdb": tmdb, "uptime_kuma": uptime_kuma, "youtube": youtube}


async def html(client: Any, path: str) -> str:
    resp = await client.get(path, headers={"Accept": "text/html"})
    assert resp.status == 200, await resp.text()
    text: str = await resp.text()
    return text


def detail_cells(page: str) -> list[str]:
    """The text of each entry's Details cell (the fifth), one line per detail."""
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    found = []
    for row in re.findall(r"(?s)<tr>(.*?)</tr>", body):
        cell = re.findall(r"(?s)<td[^>]*>(.*?)</td>", row)[4]
        parts = [" ".join(unescape(part).split()) for part in re.split(r"<[^>]+>", cell)]
        found.append("\n".join(part for part in parts if part))
    return found


def field_block(page: str, plugin: str, key: str) -> str:
    """The HTML of one setting's field in the services page."""
    section = page[page.index(f'id="service-{plugin}"') :]
    section = section[: section.index("</section>")]
    start = section.rindex('<div class="field', 0, section.index(f'data-field="{key}"'))
    following = re.compile(r'<div class="field[ "]').search(section, start + 1)
    return section[start : following.start() if following else len(section)]


def words(fragment: str) -> str:
    """The text of ``fragment`` as it reads: inline tags dropped, other tags a space."""
    inline = re.sub(r"</?(code|span|svg|rect|path)\b[^>]*>", "", fragment)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", inline)).split())


# ---- The audit log -------------------------------------------------------------------------------------------


async def test_the_audit_log_tells_each_detail_in_words(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("greeter", Greeter())])
    admin = await sign_in(client, "root", role="admin")
    nina = await sign_in(await medianest_client(browser_of=client), "nina")
    resp = await client.patch(f"/api/v1/admin/users/{nina.user_id}", json={"role": "admin"}, headers=admin.headers)
    assert resp.status == 200, await resp.text()
    resp = await client.put(
        "/api/v1/admin/services/greeter", json={"values": {"retries": 4, "api_key": "s3"}}, headers=admin.headers
    )
    assert resp.status == 200, await resp.text()
    runtime = client.app[keys.RUNTIME]
    async with runtime.sessions.begin() as db:  # shapes no action records today still read as text
        audit.record(
            db,
            AuditAction.CONTENT_CHANGED,
            actor_id=admin.user_id,
            target="text:faq",
            details={
                "note": "<script>alert(1)</script>",
                "moved": {"position": 3, "audience": ["user", "admin"]},
                "shown": True,
                "until": None,
            },
        )

    cells = detail_cells(await html(client, "/admin/audit"))
    assert cells[0].splitlines() == [
        "note: <script>alert(1)</script>",
        "moved: position: 3, audience: user, admin",
        "shown: yes",
        "until: none",
    ]
    assert cells[1] == "keys: api_key, retries"
    assert cells[2] == "role: user → admin"
    assert "provider: password" in cells
    for cell in cells:
        assert not set(cell) & set("{}[]'\""), cell  # never a Python dict, list or quoted repr
    page = await html(client, "/admin/audit?action=content.changed")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


@pytest.mark.parametrize(
    ("details", "lines"),
    [
        ({"plugin": "plex", "status": "failed"}, ["plugin: plex", "status: failed"]),
        ({"quota:overseerr.requests": {"from": "default", "to": 5}}, ["quota overseerr.requests: default → 5"]),
        ({"display_name": {"from": None, "to": "Nina"}}, ["display name: none → Nina"]),
        ({"reset": False, "length": 0, "ratio": 0.5}, ["reset: no", "length: 0", "ratio: 0.5"]),
        ({"outer": {"inner": {"a": 1}, "list": []}}, ["outer: inner: (a: 1), list: none"]),
        ({"text": "two\nlines", "blank": ""}, ["text: two lines", "blank: (empty)"]),
        (["odd", "shape"], ["odd, shape"]),
        ({}, []),
        (None, []),
    ],
)
def test_details_of_any_shape_read_as_text(details: Any, lines: list[str]) -> None:
    assert audit.describe_details(details) == lines


def test_a_very_long_detail_is_cut_short() -> None:
    (line,) = audit.describe_details({"title": "x" * 1000})
    assert len(line) == audit.MAX_DETAIL
    assert line.endswith("…")


# ---- Titles, labels and help ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TITLES))
def test_every_bundled_plugin_has_a_title_and_every_setting_a_label_and_help(name: str) -> None:
    plugin = bundled()[name]
    assert plugin.title == TITLES[name]
    cls = plugin.settings_class()
    missing = [
        f"{field.name}: {what}"
        for field in attrs.fields(cls)
        for what in ("label", "help")
        if not (isinstance(field.metadata.get(what), str) and field.metadata[what].strip())
    ]
    assert missing == [], f"{name} settings without a declared label or help"
    labels = [field.metadata["label"] for field in attrs.fields(cls)]
    assert len(set(labels)) == len(labels), f"{name} has two settings with the same label"


async def test_the_services_page_shows_titles_labels_and_help(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point(n, p) for n, p in bundled().items()])
    await sign_in(client, "root", role="admin")
    page = await html(client, "/admin/services")
    for name, title in TITLES.items():
        assert re.search(rf'<h2 id="svc-{name}">\s*{re.escape(title)}\s*</h2>', page), name
    headings = re.findall(r'<h2 id="svc-[^"]+">(.*?)</h2>', page)
    assert not any("_" in h for h in headings), headings

    plextv = field_block(page, "plex", "plextv_url")
    assert '<label for="f-plex-plextv_url">plex.tv address</label>' in plextv
    assert "sign-ins with Plex" in words(plextv)
    kuma_key = field_block(page, "uptime_kuma", "api_key")
    assert '<label for="f-uptime_kuma-api_key">API key</label>' in kuma_key
    adult = field_block(page, "tmdb", "include_adult")
    assert "Include adult titles" in words(adult)
    assert "Show adult titles in search results" in words(adult)
    # No label anywhere is a raw key.
    labels = [unescape(label) for label in re.findall(r'<label for="f-[^"]+">(.*?)</label>', page)]
    assert labels
    assert [label for label in labels if "_" in label] == []
    assert "Save Uptime Kuma" in page


async def test_numbers_read_as_typed_and_only_saved_values_say_so(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point(n, p) for n, p in bundled().items()])
    admin = await sign_in(client, "root", role="admin")
    every = field_block(await html(client, "/admin/services"), "overseerr", "refresh_interval")
    assert 'placeholder="60"' in every, every
    assert "60.0" not in every
    assert "Saved here" not in words(every)
    assert "default" not in words(every).lower()

    resp = await client.put(
        "/api/v1/admin/services/overseerr", json={"values": {"refresh_interval": 90}}, headers=admin.headers
    )
    assert resp.status == 200, await resp.text()
    every = field_block(await html(client, "/admin/services"), "overseerr", "refresh_interval")
    assert 'value="90"' in every, every
    assert "90.0" not in every
    assert words(every).endswith("Saved here.")


async def test_a_field_without_a_label_gets_one_made_from_its_key(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point("greeter", Greeter())])
    await sign_in(client, "root", role="admin")
    page = await html(client, "/admin/services")
    assert '<label for="f-greeter-api_key">API key</label>' in page
    assert '<label for="f-greeter-retries">Retries</label>' in page
    assert '<h2 id="svc-greeter">Greeter</h2>' in page


# ---- Locked settings -----------------------------------------------------------------------------------------


async def test_settings_from_the_file_or_the_environment_look_locked_and_say_why(medianest_client: Any) -> None:
    client = await medianest_client(
        entry_points=[entry_point("greeter", Greeter())], plugins={"greeter": {"retries": 5}}, env=ENV
    )
    await sign_in(client, "root", role="admin")
    config = client.app[keys.RUNTIME].loaded.config_path
    page = await html(client, "/admin/services")

    greeting = field_block(page, "greeter", "greeting")
    assert 'class="field locked"' in greeting
    assert 'class="lock"' in greeting
    assert "Locked" in words(greeting)
    assert (
        "Set by the environment variable MEDIANEST_GREETER_GREETING; change it there and restart MediaNest."
        in words(greeting)
    )
    # The reason is read out with the field.
    described = re.search(r'id="f-greeter-greeting"[^>]*aria-describedby="([^"]+)"', greeting)
    assert described is not None
    assert "w-f-greeter-greeting" in described.group(1).split()
    assert 'id="w-f-greeter-greeting"' in greeting

    retries = field_block(page, "greeter", "retries")
    assert "Locked" in words(retries)
    assert f"Set in the settings file {config}; change it there and restart MediaNest." in words(retries)

    api_key = field_block(page, "greeter", "api_key")
    assert "Locked" not in words(api_key)
    assert "change it there" not in api_key
    assert " disabled" not in api_key
    assert "Save Greeter" in page  # one setting can still be saved here


async def test_a_form_whose_settings_are_all_locked_has_nothing_to_save(medianest_client: Any) -> None:
    client = await medianest_client(
        entry_points=[entry_point("greeter", Greeter())],
        plugins={"greeter": {"retries": 5, "api_key": "open-sesame"}},
        env=ENV,
    )
    admin = await sign_in(client, "root", role="admin")
    page = await html(client, "/admin/services")
    section = page[page.index('id="service-greeter"') :]
    section = section[: section.index("</section>")]
    assert words(section).count("Locked") == 3
    assert '<button type="submit"' not in section
    assert "nothing to save on this page" in words(section)
    assert "Test connection" in section  # what is in effect can still be tried
    # Sending a locked value anyway is refused, naming where it is set.
    resp = await client.put(
        "/api/v1/admin/services/greeter", json={"values": {"greeting": "sneaky"}}, headers=admin.headers
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"] == {
        "values.greeting": "set in the environment (MEDIANEST_GREETER_GREETING); change it there"
    }


async def test_the_plugins_page_names_plugins_by_their_title(medianest_client: Any) -> None:
    client = await medianest_client(entry_points=[entry_point(n, p) for n, p in bundled().items()])
    await sign_in(client, "root", role="admin")
    page = await html(client, "/admin/plugins")
    for name, title in TITLES.items():
        row = re.search(rf'(?s)<tr data-plugin="{name}">\s*<td>(.*?)</td>', page)
        assert row is not None, name
        assert words(row.group(1)).startswith(f"{title} ({name}"), words(row.group(1))
