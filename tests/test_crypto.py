from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from medianest_core.crypto import (
    CryptoError,
    Keyring,
    KeySource,
    encode_key,
    load_keyring,
    new_key,
    pending_path,
)
from medianest_core.logs import configure_logging, redact_text
from medianest_core.models import ServiceSetting
from medianest_core.runtime import prepare_database
from medianest_core.secrets import rotate_key
from medianest_core.settings import Secret, load_settings


def ring() -> Keyring:
    return Keyring(current=new_key(), source=KeySource("test"))


def test_sealed_values_open_only_with_their_key_and_context() -> None:
    keys = ring()
    sealed = keys.encrypt("plex-token", "service_settings.secret")
    assert "plex-token" not in sealed
    assert sealed.startswith(f"v1:{keys.current_id}:")
    assert keys.decrypt(sealed, "service_settings.secret") == "plex-token"
    assert keys.encrypt("plex-token", "service_settings.secret") != sealed  # a fresh nonce each time
    with pytest.raises(CryptoError, match="damaged or was sealed elsewhere"):
        keys.decrypt(sealed, "users.password")
    with pytest.raises(CryptoError, match=r"was sealed with key \w+, but the configured key is \w+"):
        ring().decrypt(sealed, "service_settings.secret")


def test_a_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    settings = load_settings(env={"MEDIANEST_DATA_DIR": str(tmp_path)}).settings
    first = load_keyring(settings)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(settings).current == first.current


def test_a_key_from_the_environment_wins(tmp_path: Path) -> None:
    key = new_key()
    env = {"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_SECRET_KEY": encode_key(key)}
    keys = load_keyring(load_settings(env=env).settings)
    assert keys.current == key
    assert not (tmp_path / "secret.key").exists()


def test_a_bad_key_is_one_clear_line(tmp_path: Path) -> None:
    env = {"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_SECRET_KEY": "c2hvcnQ="}
    with pytest.raises(CryptoError, match=r"^secret_key: the key must be 32 bytes \(base64\), not 5$"):
        load_keyring(load_settings(env=env).settings)


def test_a_named_key_file_that_is_missing_is_not_replaced(tmp_path: Path) -> None:
    env = {"MEDIANEST_DATA_DIR": str(tmp_path), "MEDIANEST_SECRET_KEY_FILE": str(tmp_path / "typo.key")}
    with pytest.raises(CryptoError, match=r"secret_key_file: .*typo\.key does not exist"):
        load_keyring(load_settings(env=env).settings)
    assert not (tmp_path / "typo.key").exists()


async def _store(runtime: Any, values: dict[str, str]) -> None:
    await prepare_database(runtime, migrate=True)
    async with runtime.sessions.begin() as session:
        for key, value in values.items():
            sealed = runtime.keyring.encrypt(value, "service_settings.secret")
            session.add(ServiceSetting(plugin="plex", key=key, secret=sealed))


async def _read(runtime: Any, keys: Keyring) -> dict[str, str]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(ServiceSetting))).all()
        return {row.key: keys.decrypt(row.secret, "service_settings.secret") for row in rows if row.secret}


async def test_rotation_reseals_every_secret_without_losing_one(
    medianest_runtime: Any, medianest_database_url: str, medianest_data_dir: Path
) -> None:
    runtime = medianest_runtime(database_url=medianest_database_url)
    values = {f"token{n}": f"value-{n}" for n in range(5)}
    await _store(runtime, values)
    old = runtime.keyring
    result = await rotate_key(runtime)
    assert (result.count, result.old_id) == (5, old.current_id)
    fresh = load_keyring(runtime.settings)
    assert fresh.current_id == result.new_id != old.current_id
    assert not pending_path(medianest_data_dir / "secret.key").exists()
    assert await _read(runtime, fresh) == values
    with pytest.raises(CryptoError):
        await _read(runtime, old)


async def test_an_interrupted_rotation_is_finished_by_running_it_again(
    medianest_runtime: Any, medianest_data_dir: Path
) -> None:
    runtime = medianest_runtime()
    await _store(runtime, {"token": "v"})
    # A rotation that stopped after writing its new key and before re-sealing: both keys are in the keyring.
    pending = new_key()
    (medianest_data_dir / "secret.key.new").write_text(encode_key(pending))
    runtime.keyring = load_keyring(runtime.settings)
    assert await _read(runtime, runtime.keyring) == {"token": "v"}
    result = await rotate_key(runtime)
    assert load_keyring(runtime.settings).current == pending
    assert result.count == 1
    assert await _read(runtime, load_keyring(runtime.settings)) == {"token": "v"}


async def test_rotation_with_a_key_from_settings_hands_out_the_new_key_first(medianest_runtime: Any) -> None:
    runtime = medianest_runtime(secret_key=encode_key(new_key()))
    await _store(runtime, {"token": "v"})
    announced: list[bytes] = []
    result = await rotate_key(runtime, announced.append)
    assert len(announced) == 1
    assert result.new_key == announced[0]
    assert await _read(runtime, Keyring(current=announced[0], source=KeySource("setting"))) == {"token": "v"}


def test_logs_never_show_secrets() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    import structlog

    structlog.get_logger("t").info(
        "calling",
        url="http://plex:32400/library?X-Plex-Token=abcdef123456&x=1",
        api_key="k-999",
        secret=Secret("s-777"),
        dsn="postgresql://app:pw-555@db/medianest",
        headers={"Authorization": "Bearer t-444", "Accept": "json"},
    )
    line = json.loads(stream.getvalue().splitlines()[-1])
    text = json.dumps(line)
    for leaked in ("abcdef123456", "k-999", "s-777", "pw-555", "t-444"):
        assert leaked not in text
    assert line["headers"]["Accept"] == "json"
    assert line["url"] == "http://plex:32400/library?X-Plex-Token=********&x=1"
    configure_logging("info", "console")


def test_redact_text_masks_query_tokens_and_url_passwords() -> None:
    assert redact_text("GET /a?api_key=XYZ&b=2") == "GET /a?api_key=********&b=2"
    assert redact_text("redis://:hunter2@host:6379/0") == "redis://:********@host:6379/0"
    assert redact_text("nothing to hide") == "nothing to hide"
