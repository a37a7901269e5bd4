"""Numbered catalog migrations: an index built by an older version gains new columns in place.

Why: re-embedding an archive costs hours, a schema change must never ask for it. Each migration takes the
catalog from version N-1 to N inside the writer's transaction (the writer holds the lock), so a crash
leaves the old version intact and the next writer runs it again. Readers open both versions: what a
migration adds is optional for them until a writer has run it.
"""
from __future__ import annotations

import sqlite3
from typing import Callable


def _v2_origin_roots(conn: sqlite3.Connection) -> None:
    """Version 2: ``origins.root``, the folder a file was found under (as given to ``rag index build``), so
    a citation can say ``archive/2024/feed.jsonl#17`` instead of an absolute path. Older origins keep NULL
    (shown by their absolute path) until an update reads them again and fills it in."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(origins)")}
    if "root" not in cols:
        conn.execute("ALTER TABLE origins ADD COLUMN root TEXT")


#: version → the step that reaches it from the version before.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _v2_origin_roots}
LATEST = max(MIGRATIONS)


def migrate(conn: sqlite3.Connection, version: int) -> int:
    """Run every migration after ``version`` on ``conn`` (inside the caller's write transaction) and record
    the new version in ``meta``; returns it. A no-op on an index that is current."""
    for step in sorted(v for v in MIGRATIONS if v > version):
        MIGRATIONS[step](conn)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(step),))
        version = step
    return version
