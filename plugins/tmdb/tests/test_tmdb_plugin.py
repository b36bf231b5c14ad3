"""The tmdb plugin is installed, found through its entry point, and configured from ``[plugins.tmdb]``; without a
key or a token it offers nothing and nothing breaks; its checks say plainly when TMDB refuses the key; and the key
and the token never reach an answer, a page or a log line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

import pytest
from medianest_tmdb.fake import FakeTmdb, Sample

from medianest_core import HealthState, keys
from medianest_core.health import run_check
from medianest_core.plugins import PluginStatus
from medianest_core.testing import installed_plugin, sign_in

TmdbApp = Callable[..., Awaitable[Any]]
"""The ``tmdb_app`` fixture: ``await tmdb_app(**tmdb_settings)``."""


def test_loads_with_defaults(medianest_settings: Any) -> None:
    record = installed_plugin("tmdb", medianest_settings())
    assert record.status is PluginStatus.LOADED
    assert record.version == metadata.version("medianest-tmdb")
    settings = record.settings
    assert (settings.api_key, settings.read_access_token) == (None, None)
    assert settings.api_url == "https://api.themoviedb.org/3"
    assert settings.image_url == "https://image.tmdb.org"
    assert (settings.language, settings.region, settings.include_adult) == ("en-US", None, False)
    assert settings.image_cache_mb == 200
    assert not settings.configured


def test_a_bad_value_marks_it_bad_settings(medianest_settings: Any) -> None:
    loaded = medianest_settings(plugins={"tmdb": {"language": 5}})
    record = installed_plugin("tmdb", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == f"plugins.tmdb.language: expected a string, got 5 (from {loaded.config_path})"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("language", "english", "expected a language such as en or en-US, got 'english'"),
        ("language", "EN-us", "expected a language such as en or en-US, got 'EN-us'"),
        ("language", "", "expected a language such as en or en-US, got ''"),
        ("region", "us", "expected two capital letters such as US, got 'us'"),
        ("region", "USA", "expected two capital letters such as US, got 'USA'"),
        ("image_url", "image.tmdb.org", "expected an http:// or https:// URL with a host, got 'image.tmdb.org'"),
        ("image_cache_mb", -1, "expected 0 to 10240 MB, got -1"),
        ("image_cache_mb", 10241, "expected 0 to 10240 MB, got 10241"),
        ("include_adult", "sometimes", "expected true or false, got 'sometimes'"),
    ],
)
def test_each_bad_value_is_named(medianest_settings: Any, key: str, value: Any, problem: str) -> None:
    loaded = medianest_settings(plugins={"tmdb": {key: value}})
    record = installed_plugin("tmdb", loaded)
    assert record.status is PluginStatus.BAD_SETTINGS
    assert record.reason == f"plugins.tmdb.{key}: {problem} (from {loaded.config_path})"


def test_good_values(medianest_settings: Any) -> None:
    values = {"language": "pt-BR", "region": "BR", "include_adult": True, "image_cache_mb": 0}
    settings = installed_plugin("tmdb", medianest_settings(plugins={"tmdb": values})).settings
    assert (settings.language, settings.region, settings.include_adult, settings.image_cache_mb) == (
        "pt-BR",
        "BR",
        True,
        0,
    )
    assert installed_plugin("tmdb", medianest_settings(plugins={"tmdb": {"region": ""}})).settings.region is None
    assert installed_plugin("tmdb", medianest_settings(plugins={"tmdb": {"language": "de"}})).settings.language == "de"


def test_settings_from_the_environment(medianest_settings: Any) -> None:
    record = installed_plugin(
        "tmdb",
        medianest_settings(
            env={"MEDIANEST_TMDB_READ_ACCESS_TOKEN": "eyJ-token", "MEDIANEST_TMDB_REGION": "GB"}, plugins={"tmdb": {}}
        ),
    )
    settings = record.settings
    assert settings.read_access_token.get_secret_value() == "eyJ-token"
    assert settings.region == "GB"
    assert settings.configured


def test_can_be_disabled(medianest_settings: Any) -> None:
    record = installed_plugin("tmdb", medianest_settings(plugins={"tmdb": {"enabled": False}}))
    assert record.status is PluginStatus.DISABLED


def tmdb_parts(client: Any) -> dict[str, list[Any]]:
    found = client.app[keys.CONTRIBUTIONS]
    hooks = ("search_providers", "title_sources", "discovery_rows", "health_checks", "cards")
    return {hook: [item for plugin, item in getattr(found, hook) if plugin == "tmdb"] for hook in hooks}


async def test_without_a_key_it_offers_nothing_and_nothing_breaks(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app(keyless=True, api_url=fake.api_url, image_url=fake.image_url)
    assert tmdb_parts(client) == {
        "search_providers": [],
        "title_sources": [],
        "discovery_rows": [],
        "health_checks": [],
        "cards": [],
    }
    assert client.app[keys.RUNTIME].plugins.get("tmdb").status is PluginStatus.LOADED
    await sign_in(client, "alice")
    search = await client.get("/api/v1/search", params={"q": "matrix"})
    assert search.status == 200
    assert (await search.json())["results"] == []
    rows = await client.get("/api/v1/discover")
    assert (rows.status, await rows.json()) == (200, {"rows": []})
    title = await client.get(f"/api/v1/titles/movie/{Sample.MATRIX}")
    assert title.status < 500
    assert (await client.get("/discover/", headers={"Accept": "text/html"})).status == 200
    assert fake.calls == []


async def test_the_health_check_says_when_tmdb_refuses_the_key(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    [check] = tmdb_parts(await tmdb_app())["health_checks"]
    result = await run_check(check)
    assert (result.state, result.message) == (HealthState.UP, "TMDB answers")
    assert fake.count("/3/configuration") == 1

    [refused] = tmdb_parts(await tmdb_app(api_key="not-the-key"))["health_checks"]
    result = await run_check(refused)
    assert (result.state, result.message) == (HealthState.DOWN, "TMDB refused the key")

    await fake.stop()
    result = await run_check(check)
    assert result.state is HealthState.DOWN
    assert result.message is not None
    assert "/configuration" in result.message


async def test_the_connection_test_tries_the_admins_values(tmdb_app: TmdbApp, fake: FakeTmdb) -> None:
    client = await tmdb_app(keyless=True, api_url=fake.api_url, image_url=fake.image_url)
    admin = await sign_in(client, "root", role="admin")

    async def test(values: dict[str, Any]) -> tuple[str, str]:
        resp = await client.post("/api/v1/admin/services/tmdb/test", json={"values": values}, headers=admin.headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return body["state"], body["message"]

    assert await test({}) == ("down", "Set a TMDB API key or an API Read Access Token.")
    assert await test({"api_key": "not-the-key"}) == (
        "down",
        "TMDB refused the API key: check it in your TMDB account settings.",
    )
    assert await test({"read_access_token": "eyJ-not-the-token"}) == (
        "down",
        "TMDB refused the API Read Access Token: check it in your TMDB account settings.",
    )
    assert await test({"api_key": fake.api_key}) == ("up", "TMDB accepted the API key.")
    assert await test({"api_key": "not-the-key", "read_access_token": fake.token}) == (
        "up",
        "TMDB accepted the API Read Access Token.",
    )
    await fake.stop()
    state, message = await test({"api_key": fake.api_key})
    assert state == "down"
    assert message.startswith("TMDB did not answer: ")
    assert fake.api_key not in message


@pytest.mark.parametrize("credential", ["api_key", "read_access_token"])
async def test_no_key_or_token_in_any_answer_page_or_log(
    tmdb_app: TmdbApp, fake: FakeTmdb, credential: str, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = (fake.api_key, fake.token)
    client = await tmdb_app(**{credential: fake.api_key if credential == "api_key" else fake.token})
    await sign_in(client, "root", role="admin")
    html = {"Accept": "text/html"}
    movie = await (await client.get(f"/api/v1/titles/movie/{Sample.MATRIX}")).json()
    paths = [
        "/api/v1/search?q=matrix",
        "/api/v1/search/stream?q=breaking",
        f"/api/v1/titles/movie/{Sample.MATRIX}",
        f"/api/v1/titles/tv/{Sample.BREAKING_BAD}",
        "/api/v1/discover",
        "/api/v1/discover/tmdb.trending",
        "/api/v1/discover/tmdb.popular-films",
        "/api/v1/discover/tmdb.popular-series",
        "/api/v1/health",
        "/api/v1/admin/services",
        "/api/v1/openapi.json",
        f"/titles/movie/{Sample.MATRIX}",
        f"/titles/tv/{Sample.BREAKING_BAD}",
        "/discover/",
        "/search?q=matrix",
        "/api/v1/tmdb/images/w342/missing.jpg",
    ]
    seen: list[str] = []
    for path in paths:
        resp = await client.get(path, headers=html if not path.startswith("/api/") else None)
        assert resp.status < 500, path
        seen.append(await resp.text())
    assert "The Matrix" in seen[0]
    assert movie["poster"] in seen[0]  # the image route's address, never TMDB's
    poster = await client.get(movie["poster"])
    assert poster.status == 200

    fake.api_key, fake.token = "rotated", "rotated"  # TMDB now refuses: failures are told without the key too
    for path in ("/api/v1/search?q=something else", "/api/v1/titles/movie/194", "/api/v1/discover/tmdb.trending"):
        resp = await client.get(path)
        assert resp.status in (200, 503), path  # a title page with no source left is the core's 503
        seen.append(await resp.text())
    assert "TMDB" in seen[-3]
    for secret in secrets:
        assert not [text for text in seen if secret in text]
        assert secret not in caplog.text
