"""The Plex plugin's tables: who signed in with Plex (and their server token, sealed), sign-ins in progress, and
the plugin's own state (its client identifier)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from medianest_core.models import Base, utcnow


class PlexAccount(Base):
    """A MediaNest user who signs in with Plex. ``server_token`` opens the owner's server as this person (Plex
    then shows only what is shared with them); it is sealed with the keyring and never leaves the server."""

    __tablename__ = "plex_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    plex_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    uuid: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(150))
    thumb: Mapped[str | None] = mapped_column(String(500))
    server_token: Mapped[str] = mapped_column(Text, info={"encrypted": True})
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PlexLogin(Base):
    """A sign-in in progress: the PINs shown to one browser, which holds the token whose SHA-256 is ``id``.
    ``address`` is where it was started (the client's address, an IPv6 /64): only a reload from there shows the
    same codes again. ``expires_at`` is the first of the PINs' own expiry and the sign-in's 15 minutes."""

    __tablename__ = "plex_logins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pin_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    link_pin_id: Mapped[int] = mapped_column(Integer)
    link_code: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    next: Mapped[str] = mapped_column(String(500), default="/")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PlexState(Base):
    """Small values the plugin keeps, by key (``client_identifier``)."""

    __tablename__ = "plex_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
