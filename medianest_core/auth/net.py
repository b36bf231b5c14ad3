"""Who is asking and how: the client's address and scheme, believing forwarded headers only from trusted
proxies; MediaNest's own origin."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from medianest_core import keys

if TYPE_CHECKING:
    from medianest_core.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def _address(text: str | None) -> IPAddress | None:
    """``text`` as an IP address without its zone (``%eth0``), or ``None`` when it is not one."""
    if not text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return ipaddress.IPv6Address(ip.packed)
    return ip


def client_ip(request: web.Request) -> str | None:
    """The client's address, always a valid IP address in its short form (at most 39 characters), or ``None``.

    It is the peer's; when the peer is a trusted proxy, ``X-Forwarded-For`` is read from the right, past the
    trusted proxies, to the first address that is not one. A hop that is not an IP address ends the search: what
    lies to its left was never vouched for, so the answer is then the nearest proxy known (the hop to its right,
    or the peer).
    """
    peer = _address(request.remote)
    if peer is None:
        return None
    proxies = _proxies(request)
    if not _trusted(str(peer), proxies):
        return str(peer)
    nearest = peer
    for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
        if not hop.strip():
            continue
        ip = _address(hop.strip())
        if ip is None:
            break
        if not _trusted(str(ip), proxies):
            return str(ip)
        nearest = ip
    return str(nearest)


def network_of(address: str | None, ipv6_prefix: int = 64) -> str | None:
    """What limits count as one client: an IPv4 address itself, or the network of an IPv6 address (its /64 by
    default, which one subscriber holds and whose addresses a device changes at will); ``None`` for anything that
    is not an IP address. An IPv4 address written as IPv6 (``::ffff:192.0.2.1``) is the IPv4 address."""
    ip = _address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return None if ip is None else str(ip)


def client_network(request: web.Request) -> str:
    """The client's address as limits count it (:func:`network_of`), or ``"unknown"``."""
    return network_of(client_ip(request)) or "unknown"


def is_https(request: web.Request) -> bool:
    """Whether the browser reached MediaNest over https: directly, through ``public_url``, or as a trusted
    proxy says in ``X-Forwarded-Proto``."""
    if request.secure:
        return True
    settings = request.config_dict[keys.RUNTIME].settings
    if settings.public_url is not None:
        return str(settings.public_url).startswith("https://")
    if settings.trusted_proxies and _trusted(request.remote, tuple(settings.trusted_proxies)):
        return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"
    return False


def https_rule(settings: Settings) -> Callable[[web.Request], bool]:
    """:func:`is_https` for these settings, with what does not depend on the request decided once (it is asked
    for every answer)."""
    if settings.public_url is not None:
        public = str(settings.public_url).startswith("https://")
        return lambda request: public or request.secure
    if settings.trusted_proxies:
        return is_https
    return lambda request: request.secure


def own_origin(request: web.Request) -> str:
    """MediaNest's origin as browsers see it: that of ``public_url``, else the request's scheme and host."""
    public_url = request.config_dict[keys.RUNTIME].settings.public_url
    if public_url is not None:
        url = URL(str(public_url))
        return str(url.origin())
    scheme = "https" if is_https(request) else "http"
    return f"{scheme}://{request.host}"
