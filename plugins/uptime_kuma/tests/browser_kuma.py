"""What the plugin's browser tests share: a fake Uptime Kuma answering from a background thread while Playwright
blocks the test's thread, and ``medianest serve`` reading it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from medianest_uptime_kuma.client import MonitorStatus
from medianest_uptime_kuma.fake import FakeUptimeKuma

from medianest_core.testing import LoopThread, Server, serve_env

POLL: Final = 10
"""Seconds between the plugin's reads of Uptime Kuma (the least it allows)."""


class Kuma(LoopThread):
    """A :class:`FakeUptimeKuma` on its own event loop: Plex and Overseerr in the group "Media" and the family
    website in "Web" of the status page "home", with ``history`` minutes of beats behind them."""

    def __init__(self, name: str, *, history: int, show_cert_expiry: bool = False) -> None:
        super().__init__(name)
        self.fake: FakeUptimeKuma = self.run(self._start(history, show_cert_expiry))

    @staticmethod
    async def _start(history: int, show_cert_expiry: bool) -> FakeUptimeKuma:
        fake = FakeUptimeKuma()
        plex = fake.add_monitor("Plex", url="http://plex.lan:32400", ping=18)
        overseerr = fake.add_monitor("Overseerr", url="http://overseerr.lan:5055", ping=35)
        website = fake.add_monitor("Family website", url="https://example.org", ping=120, cert_days=20)
        for _ in range(history):
            fake.advance(minutes=1)
        groups = {"Media": [plex, overseerr], "Web": [website]}
        fake.add_status_page("home", "Home", groups, show_cert_expiry=show_cert_expiry)
        await fake.start()
        return fake

    def set_status(self, monitor_id: int, status: MonitorStatus, msg: str = "") -> None:
        self.call(self.fake.set_status, monitor_id, status, msg=msg)

    def close(self) -> None:
        self.run(self.fake.stop())
        super().close()


@contextmanager
def kuma_thread(name: str, *, history: int, show_cert_expiry: bool = False) -> Iterator[Kuma]:
    made = Kuma(name, history=history, show_cert_expiry=show_cert_expiry)
    try:
        yield made
    finally:
        made.close()


@contextmanager
def serving(root: Path, kuma: Kuma, plugins: Sequence[str]) -> Iterator[Server]:
    """``medianest serve`` with the Uptime Kuma plugin reading ``kuma``'s status page "home" every :data:`POLL`
    seconds, and only ``plugins`` on."""
    env = serve_env(
        root / "data",
        {
            "MEDIANEST_LOGIN_RATE_LIMIT": "1000/minute",
            "MEDIANEST_UPTIME_KUMA_URL": kuma.fake.url,
            "MEDIANEST_UPTIME_KUMA_STATUS_PAGES": "home",
            "MEDIANEST_UPTIME_KUMA_REFRESH_INTERVAL": str(POLL),
        },
        plugins=plugins,
    )
    with Server(env, root / "serve.log") as srv:
        yield srv
