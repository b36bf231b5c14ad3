"""The Plex plugin's tables: who signed in with Plex (and their server token, sealed), sign-ins in progress, the
plugin's own state (its client identifier), and the index of the server's films and series by their external
ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
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
    same codes again. ``expires_at`` is the first of the PINs' own expiry and the sign-in's 15 minutes. ``user_id``
    is the MediaNest account signed in when it was started (one that signs in with a password): the Plex account
    approved is linked to it instead of signing in as another account."""

    __tablename__ = "plex_logins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pin_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    link_pin_id: Mapped[int] = mapped_column(Integer)
    link_code: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    next: Mapped[str] = mapped_column(String(500), default="/")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PlexState(Base):
    """Small values the plugin keeps, by key (``client_identifier``)."""

    __tablename__ = "plex_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PlexTitle(Base):
    """A film or a series of the server, as the last walk of its libraries found it (with the owner's token):
    which library (``section_key``) holds it and the ids TMDB, TheTVDB and IMDb know it by. ``kind`` is ``movie``
    or ``tv``. Search results, title pages and discovery rows find what Plex has here, never by walking the
    library while someone waits; what each person may see is decided by the libraries shared with them."""

    __tablename__ = "plex_titles"
    __table_args__ = (
        Index("ix_plex_titles_kind_tmdb_id", "kind", "tmdb_id"),
        Index("ix_plex_titles_kind_tvdb_id", "kind", "tvdb_id"),
        Index("ix_plex_titles_imdb_id", "imdb_id"),
        Index("ix_plex_titles_section_key", "section_key"),
    )

    rating_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    section_key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(500))
    year: Mapped[int | None] = mapped_column(Integer)
    tmdb_id: Mapped[int | None] = mapped_column(Integer)
    tvdb_id: Mapped[int | None] = mapped_column(Integer)
    imdb_id: Mapped[str | None] = mapped_column(String(16))
    indexed_at: Mapped[datetime] = mapped_column(default=utcnow)
