"""The client's address behind trusted proxies: only IP addresses are believed from ``X-Forwarded-For``, so what
reaches the audit log, the sessions and the limits is always one."""

from __future__ import annotations

import ipaddress
from typing import Any

from example_plugins import Greeter

from medianest_core import keys
from medianest_core.testing import add_user, entry_point, sign_in

LOGIN = "/api/v1/auth/login"
LONG_ZONE = "fe80::1%" + "z" * 60
GARBAGE = "x" * 60

# X-Forwarded-For as the trusted proxy (127.0.0.1) passes it on -> the address MediaNest records.
FORWARDED = {
    "203.0.113.5": "203.0.113.5",
    f"203.0.113.5, {GARBAGE}": "127.0.0.1",  # the proxy wrote something that is not an address: only it is known
    f"{GARBAGE}, 127.0.0.1": "127.0.0.1",  # the nearest proxy known
    f"{GARBAGE}, 198.51.100.4": "198.51.100.4",
    "unknown, 127.0.0.1": "127.0.0.1",
    LONG_ZONE: "fe80::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001": "2001:db8::1",
    " , 203.0.113.6 ,": "203.0.113.6",
}


async def test_forwarded_hops_that_are_not_addresses_never_reach_the_audit_log(
    medianest_client: Any, medianest_database_url: str
) -> None:
    client = await medianest_client(
        entry_points=[entry_point("greeter", Greeter())],
        database_url=medianest_database_url,
        trusted_proxies=["127.0.0.1"],
        login_rate_limit="100/minute",
        login_user_rate_limit="100/hour",
    )
    admin_browser = await medianest_client(browser_of=client)
    await sign_in(admin_browser, "root", role="admin")
    await add_user(client.app[keys.RUNTIME], "nina", "nina-password-123")
    wrong = {"username": "nina", "password": "wrong-password-000"}
    for forwarded in FORWARDED:
        resp = await client.post(LOGIN, json=wrong, headers={"X-Forwarded-For": forwarded})
        assert resp.status == 401, (forwarded, await resp.text())
    # A sign-in records its address with the session as well.
    right = {"username": "nina", "password": "nina-password-123"}
    resp = await client.post(LOGIN, json=right, headers={"X-Forwarded-For": LONG_ZONE})
    assert resp.status == 200, await resp.text()
    mine = await client.get("/api/v1/me/sessions", headers={"X-Forwarded-For": LONG_ZONE})
    assert [s["ip"] for s in (await mine.json())["sessions"]] == ["fe80::1"]

    answer = await admin_browser.get("/api/v1/admin/audit", params={"action": "auth.login_failed", "per_page": 50})
    assert answer.status == 200, await answer.text()
    recorded = [entry["ip"] for entry in reversed((await answer.json())["entries"])]
    assert recorded == list(FORWARDED.values())
    for address in recorded:
        assert str(ipaddress.ip_address(address)) == address
