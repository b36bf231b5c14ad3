"""Bad input to the YouTube plugin's API and pages is a 4xx, never a 500 (issue: numbers out of range)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from medianest_youtube import YouTubePlugin

from medianest_core.testing import entry_point, sign_in

HUGE = ("9223372036854775813", "2147483648", "1" + "0" * 30, "١٢")


async def test_ids_out_of_range_are_404_and_pages_out_of_range_400(
    medianest_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    section = {"library_root": str(tmp_path / "library"), "free_space_floor_mb": 0}
    client = await medianest_client(
        entry_points=[entry_point("youtube", YouTubePlugin())], plugins={"youtube": section}
    )
    alice = await sign_in(client, "alice")
    for huge in HUGE:
        for method, path in (
            ("GET", f"/api/v1/youtube/downloads/{huge}"),
            ("DELETE", f"/api/v1/youtube/downloads/{huge}"),
            ("POST", f"/api/v1/youtube/downloads/{huge}/cancel"),
            ("POST", f"/api/v1/youtube/downloads/{huge}/retry"),
        ):
            resp = await client.request(method, path, headers=alice.headers)
            assert resp.status == 404, (method, path, await resp.text())
            assert (await resp.json())["error"]["code"] == "not_found"
        row = await client.get(f"/youtube/rows/{huge}", headers={"Accept": "text/html"})
        assert row.status == 404
    for page in ("1" + "0" * 30, "0", "two"):
        resp = await client.get("/api/v1/youtube/downloads", params={"page": page})
        assert "page" in (await resp.json())["error"]["details"]["fields"]
        assert (await client.get("/youtube/", params={"page": page}, headers={"Accept": "text/html"})).status == 400
    resp = await client.get("/api/v1/youtube/downloads", params={"scope": "everyone"})
    assert (await resp.json())["error"]["details"]["fields"] == {"scope": "expected one of own, all"}
    resp = await client.post(
        "/api/v1/youtube/preview",
        data='{"url": "\\ud800"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert resp.status == 422
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
