"""Sealing values for storage, and rotating the key that seals them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import attrs
from sqlalchemy import Column, Table, inspect, select, update

from medianest_core.crypto import Keyring, key_id, new_key, pending_path, write_key_file
from medianest_core.models import Base

if TYPE_CHECKING:
    from medianest_core.runtime import Runtime


def encrypted_columns() -> Iterator[tuple[Table, Column[str]]]:
    """Every column marked ``info={"encrypted": True}`` in the core's and the loaded plugins' models."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("encrypted"):
                yield table, column


def context_of(table: Table, column: Column[str]) -> str:
    """The associated data bound to every value of a column: a sealed value cannot be moved elsewhere."""
    return f"{table.name}.{column.name}"


@attrs.frozen
class Rotation:
    count: int
    old_id: str
    new_id: str
    new_key: bytes | None


async def rotate_key(runtime: Runtime, announce: Callable[[bytes], None] | None = None) -> Rotation:
    """Re-seal every stored secret under a new key, in one transaction.

    With a key file, the new key is first written beside it (``secret.key.new``), the values are re-sealed and
    committed, and only then does the new key replace the old: a crash at any step leaves every value readable
    (the keyring reads both files), and running the command again finishes the same rotation. With a key from the
    settings, ``announce`` receives the new key before anything is re-sealed, so it is never lost.
    """
    ring = runtime.keyring
    runtime.migration_locations()  # plugins import their models there, so their encrypted columns are known
    path = ring.source.path if ring.source.kind == "file" else None
    pending = ring.others.get(next(iter(ring.others), "")) if ring.others else None
    fresh = pending if pending is not None else new_key()
    if path is not None and pending is None:
        write_key_file(pending_path(path), fresh)
    if path is None and announce is not None:
        announce(fresh)
    target = Keyring(current=fresh, source=ring.source)
    count = 0
    async with runtime.sessions.begin() as session:
        conn = await session.connection()
        present = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        for table, column in encrypted_columns():
            if table.name not in present:  # a plugin's table whose migrations this database never ran
                continue
            pk = list(table.primary_key.columns)
            rows = (await session.execute(select(*pk, column).where(column.isnot(None)))).all()
            context = context_of(table, column)
            for row in rows:
                *ids, sealed = row
                if ring.sealed_with(sealed) == target.current_id:
                    continue
                plain = ring.decrypt(sealed, context)
                condition = [c == v for c, v in zip(pk, ids, strict=True)]
                await session.execute(
                    update(table).where(*condition).values({column.name: target.encrypt(plain, context)})
                )
                count += 1
    if path is not None:
        os.replace(pending_path(path), path)
    runtime.keyring = Keyring(current=fresh, source=ring.source)
    return Rotation(
        count=count,
        old_id=ring.current_id,
        new_id=key_id(fresh),
        new_key=None if path is not None else fresh,
    )
