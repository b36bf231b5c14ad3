"""Who is asking and how: the client's address and scheme, believing forwarded headers only from trusted
proxies; MediaNest's own origin."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web
from yarl import URL

from medianest_core import keys

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str | None, proxies: tuple[str, ...]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(proxies))


def _proxies(request: web.Request) -> tuple[str, ...]:
    return tuple(request.config_dict[keys.RUNTIME].settings.trusted_proxies)


def client_ip(request: web.Request) -> str | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, the nearest untrusted address of
    ``X-Forwarded-For``."""
    peer = request.remote
    proxies = _proxies(request)
    if not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


def is_https(request: web.Request) -> bool:
    """Whether the browser reached MediaNest over https: directly, through ``public_url``, or as a trusted
    proxy says in ``X-Forwarded-Proto``."""
    if request.secure:
        return True
    public_url = request.config_dict[keys.RUNTIME].settings.public_url
    if public_url is not None:
        return str(public_url).startswith("https://")
    if _trusted(request.remote, _proxies(request)):
        return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
    return False


def own_origin(request: web.Request) -> str:
    """MediaNest's origin as browsers see it: that of ``public_url``, else the request's scheme and host."""
    public_url = request.config_dict[keys.RUNTIME].settings.public_url
    if public_url is not None:
        url = URL(str(public_url))
        return str(url.origin())
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.host}"
