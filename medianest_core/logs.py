"""Logging with structlog: JSON lines when stdout is not a terminal, readable lines on one; secrets redacted.

Standard-library loggers (aiohttp, SQLAlchemy, Dramatiq, Alembic) go through the same renderer, so every line
of a request carries its request id.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar
from typing import Any, Final

import structlog

from medianest_core.settings import MASK, LogFormat, LogLevel, Secret

SECRET_KEY_PATTERN: Final = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|private)", re.IGNORECASE
)
SECRET_IN_TEXT: Final = re.compile(
    r"(?P<key>X-Plex-Token|api_key|apikey|token|access_token|password)(?P<sep>[=:]\s*|\"\s*:\s*\")"
    r"(?P<value>[^&\s\"',;]+)",
    re.IGNORECASE,
)
URL_PASSWORD: Final = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")


REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("medianest_request_id", default=None)
"""The id of the request being answered here (set by the request middleware), or ``None`` outside requests."""


def add_request_id(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: every line logged while a request is answered carries its ``request_id``."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def redact_text(text: str) -> str:
    """Mask tokens in query strings and passwords in URLs inside free text."""
    text = SECRET_IN_TEXT.sub(lambda m: f"{m['key']}{m['sep']}{MASK}", text)
    return URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)


def _redact(value: Any, key: str | None = None) -> Any:
    if isinstance(value, Secret):
        return MASK
    if key is not None and SECRET_KEY_PATTERN.search(key) and value not in (None, "", False):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


MEANT_FOR_THE_LOG: Final = frozenset({"event", "setup_token"})
"""Keys whose value a log line shows although the name says secret: the one-time setup token of a fresh install,
which the owner reads in the log to prove they run the server."""


def redact_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no secret value reaches a log line."""
    for key in list(event_dict):
        event_dict[key] = _redact(event_dict[key], None if key in MEANT_FOR_THE_LOG else key)
    return event_dict


def configure_logging(level: LogLevel = "info", fmt: LogFormat = "auto", stream: Any = None) -> None:
    """Set up structlog and the standard library's logging for the whole process; safe to call again."""
    stream = stream or sys.stdout
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before redaction, so a token in an exception's message is masked too.
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any
    if use_json:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log repeats what the request middleware logs; Alembic's INFO lines are noise at start-up.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING if level != "debug" else logging.DEBUG)
