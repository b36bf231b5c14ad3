"""Secrets at rest: AES-256-GCM with a key from the environment, a key file, or one generated on first run.

A stored secret reads ``v1:<key id>:<base64 of nonce + ciphertext>``; the key id (from a hash of the key) says
which key sealed it, so a rotation interrupted half-way loses nothing: the keyring holds the old key and the
pending new one until every value is re-sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import attrs

from medianest_core.settings import Settings

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
VERSION: Final = "v1"
KEY_FILE_NAME: Final = "secret.key"
PENDING_SUFFIX: Final = ".new"


class CryptoError(Exception):
    """A secret that cannot be opened or a key that cannot be used; the message never holds a secret."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"medianest-key-id:" + key).hexdigest()[:12]


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise CryptoError(f"{where}: not a base64 key") from None
    if len(key) != KEY_BYTES:
        raise CryptoError(f"{where}: the key must be {KEY_BYTES} bytes (base64), not {len(key)}")
    return key


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key with mode 0600, durably: a temporary file, fsync, then an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (encode_key(key) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@attrs.frozen
class KeySource:
    """Where the current key lives: ``env`` and ``setting`` cannot be rewritten by MediaNest; ``file`` can."""

    kind: str
    path: Path | None = None


@attrs.define
class Keyring:
    """The current key, plus any other key still needed to open stored secrets (during a rotation)."""

    current: bytes
    source: KeySource
    others: dict[str, bytes] = attrs.field(factory=dict)

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def encrypt(self, plaintext: str, context: str) -> str:
        """Seal ``plaintext``; ``context`` (such as ``"service_settings.secret"``) is bound to it."""
        # Imported on first use: cryptography's OpenSSL bindings cost several MB of memory, and a server with no
        # stored secret never needs them.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.current).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        blob = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}:{self.current_id}:{blob}"

    def sealed_with(self, token: str) -> str:
        parts = token.split(":", 2)
        if len(parts) != 3 or parts[0] != VERSION:
            raise CryptoError("not a MediaNest sealed secret")
        return parts[1]

    def decrypt(self, token: str, context: str) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        kid = self.sealed_with(token)
        keys: Mapping[str, bytes] = {self.current_id: self.current, **self.others}
        key = keys.get(kid)
        if key is None:
            raise CryptoError(f"a stored secret was sealed with key {kid}, but the configured key is {self.current_id}")
        try:
            raw = base64.urlsafe_b64decode(token.split(":", 2)[2].encode("ascii"))
            plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError):
            raise CryptoError(f"a stored secret for {context} is damaged or was sealed elsewhere") from None
        return plain.decode("utf-8")


def key_file_path(settings: Settings) -> Path:
    return settings.secret_key_file or settings.data_dir / KEY_FILE_NAME


def pending_path(path: Path) -> Path:
    return path.with_name(path.name + PENDING_SUFFIX)


def _read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text("ascii")
    except UnicodeDecodeError:
        raise CryptoError(f"{path}: not a base64 key") from None
    except OSError as exc:
        raise CryptoError(f"{path}: cannot be read: {exc.strerror}") from None
    return decode_key(text, str(path))


def check_key(settings: Settings) -> None:
    """Raise :class:`CryptoError` when the configured key cannot be used; no key is made. A default key file
    that does not exist yet is fine: it is made on first start."""
    if settings.secret_key is None and settings.secret_key_file is None and not key_file_path(settings).exists():
        return
    load_keyring(settings, create=False)


def load_keyring(settings: Settings, create: bool = True) -> Keyring:
    """The keyring from settings: ``secret_key`` (``MEDIANEST_SECRET_KEY``), else the key file, which is made
    (mode 0600) on first run when ``create`` is true."""
    if settings.secret_key is not None:
        key = decode_key(settings.secret_key.get_secret_value(), "secret_key")
        return Keyring(current=key, source=KeySource("setting"))
    path = key_file_path(settings)
    if path.is_file():
        mode = path.stat().st_mode & 0o077
        if mode:
            os.chmod(path, 0o600)
        key = _read_key_file(path)
    elif create and settings.secret_key_file is None:
        key = new_key()
        write_key_file(path, key)
    elif settings.secret_key_file is not None:
        raise CryptoError(
            f"secret_key_file: {path} does not exist (MediaNest makes a key by itself only at its default place, "
            "the data dir)"
        )
    else:
        raise CryptoError(f"{path}: no key file")
    ring = Keyring(current=key, source=KeySource("file", path))
    pending = pending_path(path)
    if pending.is_file():
        other = _read_key_file(pending)
        ring.others[key_id(other)] = other
    return ring
