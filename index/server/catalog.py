"""The server backend's catalog in PostgreSQL: every SQL statement of the server backend is in this module.

Why PostgreSQL holds all of this (and Milvus only a search copy): like the local SQLite catalog, it is the
single source of truth, committed atomically — articles, origins, chunk records *with their vectors*
(float32 ``bytea``, so a lost or stale Milvus collection can be rebuilt without re-embedding), the keyword
postings with each chunk's BM25 length, the collection statistics and the generation. A reader runs one
``REPEATABLE READ READ ONLY`` transaction per question, so everything it reads from here is one generation.

Why the postings are rows ``(term, chunk_id, tf)`` and not per-term blobs as locally: PostgreSQL updates
rows under MVCC without rewriting a common term's whole blob at every commit, and a delete is an indexed
``DELETE … WHERE chunk_id = ANY(…)``. BM25 is computed from them with exactly the local formula
(index/server/bm25.py), so keyword rankings are the local ones.

One writer: a session-level advisory lock (released by PostgreSQL when the writer's connection dies, like
the local ``flock``), its holder ("PID … (since …)") in ``writer_lock`` for the message a second writer and
the readers of a first build see.
"""
from __future__ import annotations

import json
import re
import time
from typing import Any, Iterable, Sequence

import numpy as np

from ..backend import ArticleRecord, Filters, IndexInvalid, OriginRecord

try:  # the `server` extra; index.server_backend turns an ImportError into a clear message
    import psycopg
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"the server backend needs psycopg (pip install -e '.[server]'): {_exc}") from _exc

#: Catalog schema version this program writes (numbered migrations start from it when it changes).
SCHEMA_VERSION = 1
#: Advisory-lock key of the one writer (any 64-bit constant: one index per database).
LOCK_KEY = 0x7261_676E_6577_7331  # "ragnews1"
FIRST_BUILD = "first_build"

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS articles(
        id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT, url TEXT, text TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}', added_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS articles_date ON articles(date)",
    "CREATE INDEX IF NOT EXISTS articles_source ON articles(source)",
    """CREATE TABLE IF NOT EXISTS origins(
        origin_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, path TEXT NOT NULL, position INTEGER NOT NULL,
        seen_at TEXT NOT NULL, root TEXT)""",
    "CREATE INDEX IF NOT EXISTS origins_article ON origins(article_id)",
    "CREATE INDEX IF NOT EXISTS origins_path ON origins(path)",
    # seq: insertion order (the local rowid order), the tie-break of equal scores, as ascending rowid is locally
    """CREATE TABLE IF NOT EXISTS chunks(
        id BIGINT PRIMARY KEY, seq BIGINT NOT NULL, article_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
        start INTEGER NOT NULL, "end" INTEGER NOT NULL, n_tokens INTEGER NOT NULL, title_terms TEXT NOT NULL,
        body_terms TEXT NOT NULL, length INTEGER NOT NULL, vector BYTEA NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id)",
    "CREATE SEQUENCE IF NOT EXISTS chunk_seq",
    """CREATE TABLE IF NOT EXISTS postings(
        term TEXT NOT NULL, chunk_id BIGINT NOT NULL, tf REAL NOT NULL, PRIMARY KEY (term, chunk_id))""",
    "CREATE INDEX IF NOT EXISTS postings_chunk ON postings(chunk_id)",
    # vectors written to Milvus whose catalog fate is not settled yet (see index/server/backend.py)
    "CREATE TABLE IF NOT EXISTS vector_pending(chunk_id BIGINT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS writer_lock(id INTEGER PRIMARY KEY, holder TEXT NOT NULL, backend_pid INTEGER)",
)
TABLES = ("meta", "articles", "origins", "chunks", "postings")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def redact(dsn: str) -> str:
    """A DSN fit for messages: any password removed (URI ``user:pw@`` and ``password=…`` forms)."""
    dsn = re.sub(r"(://[^:/@]*):[^@]+@", r"\1:***@", dsn)
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", dsn, flags=re.I)


def connect(dsn: str, autocommit: bool = False) -> "psycopg.Connection":
    """A connection to the catalog database; an unreachable server is IndexInvalid naming the DSN (no password)."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        raise IndexInvalid(f"cannot connect to the catalog database {redact(dsn)}: {str(exc).strip()}") from exc


def has_catalog(conn: "psycopg.Connection") -> bool:
    """Whether this database holds a committed catalog (a meta table with a generation)."""
    row = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return False
    return conn.execute("SELECT 1 FROM meta WHERE key = 'generation'").fetchone() is not None


def create_schema(conn: "psycopg.Connection") -> None:
    for stmt in SCHEMA:
        conn.execute(stmt)


def read_meta(conn: "psycopg.Connection") -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def set_meta(conn: "psycopg.Connection", values: dict[str, str]) -> None:
    for key, value in values.items():
        conn.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = "
                     "excluded.value", (key, value))


def delete_meta(conn: "psycopg.Connection", key: str) -> None:
    conn.execute("DELETE FROM meta WHERE key = %s", (key,))


def first_build_note(meta: dict[str, str]) -> dict[str, Any] | None:
    if FIRST_BUILD not in meta:
        return None
    try:
        note = json.loads(meta[FIRST_BUILD])
    except ValueError:
        note = {}
    return note if isinstance(note, dict) else {}


def clear_all(conn: "psycopg.Connection") -> None:
    """Empty the catalog inside the caller's transaction (a fresh build). DELETE, not TRUNCATE: readers keep
    reading the old rows under MVCC until the commit, instead of waiting on TRUNCATE's exclusive lock."""
    for table in ("postings", "chunks", "origins", "articles"):
        conn.execute(f"DELETE FROM {table}")


# ------------------------------------------------------------------------------------- writer lock ---
def try_lock(conn: "psycopg.Connection") -> bool:
    """Take the writer lock on ``conn`` (autocommit, kept open by the writer for as long as it writes)."""
    return bool(conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0])


def record_holder(conn: "psycopg.Connection", holder: str) -> None:
    conn.execute("INSERT INTO writer_lock(id, holder, backend_pid) VALUES (1, %s, pg_backend_pid()) "
                 "ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, backend_pid = excluded.backend_pid",
                 (holder,))


def unlock(conn: "psycopg.Connection") -> None:
    if conn.execute("SELECT to_regclass('writer_lock') IS NOT NULL").fetchone()[0]:
        conn.execute("DELETE FROM writer_lock WHERE id = 1")
    conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def lock_holder(conn: "psycopg.Connection") -> str | None:
    """"PID … (since …)" of the live writer, or None: the advisory lock held (by any session) is what counts,
    the recorded text only names it (a dead writer's session is gone, and with it its lock)."""
    if conn.execute("SELECT to_regclass('writer_lock') IS NULL").fetchone()[0]:
        return None
    held = conn.execute(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
        "((classid::bigint << 32) | objid::bigint) = %s", (LOCK_KEY,)).fetchone()
    if not held:
        return None
    row = conn.execute("SELECT holder FROM writer_lock WHERE id = 1").fetchone()
    return row[0] if row else "another process"


# ---------------------------------------------------------------------------------------- writes ---
def insert_article(conn: "psycopg.Connection", article_id: str, title: str, text: str, date: str | None,
                   source: str | None, url: str | None, metadata: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO articles(id, title, date, source, url, text, metadata, added_at) VALUES "
        "(%s,%s,%s,%s,%s,%s,%s,%s)",
        (article_id, title, date, source, url, text, json.dumps(metadata, ensure_ascii=False, default=str), now()))


def insert_chunks(conn: "psycopg.Connection", rows: Sequence[tuple[Any, ...]],
                  postings: Iterable[tuple[str, int, float]]) -> None:
    """Chunk rows (id, seq or None, article_id, ordinal, start, end, n_tokens, title_terms, body_terms, length,
    vector bytes) and their postings (term, chunk_id, tf). ``seq`` None: the next of the catalog's sequence."""
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO chunks(id, seq, article_id, ordinal, start, "end", n_tokens, title_terms, body_terms, '
            "length, vector) VALUES (%s, COALESCE(%s, nextval('chunk_seq')), %s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
        with cur.copy("COPY postings(term, chunk_id, tf) FROM STDIN") as copy:
            for row in postings:
                copy.write_row(row)


def advance_seq(conn: "psycopg.Connection") -> None:
    """After rows were inserted with explicit ``seq`` values (a migrated index), new chunks continue after them."""
    conn.execute("SELECT setval('chunk_seq', GREATEST((SELECT COALESCE(max(seq), 0) FROM chunks), 1))")


def chunk_ids_of(conn: "psycopg.Connection", article_id: str) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM chunks WHERE article_id = %s", (article_id,))]


def delete_article(conn: "psycopg.Connection", article_id: str, chunk_ids: Sequence[int]) -> None:
    conn.execute("DELETE FROM postings WHERE chunk_id = ANY(%s)", (list(chunk_ids),))
    conn.execute("DELETE FROM chunks WHERE article_id = %s", (article_id,))
    conn.execute("DELETE FROM articles WHERE id = %s", (article_id,))


def upsert_origin(conn: "psycopg.Connection", origin_id: str, article_id: str, path: str, position: int,
                  root: str | None) -> None:
    conn.execute(
        "INSERT INTO origins(origin_id, article_id, path, position, seen_at, root) VALUES (%s,%s,%s,%s,%s,%s) "
        "ON CONFLICT (origin_id) DO UPDATE SET article_id = excluded.article_id, path = excluded.path, "
        "position = excluded.position, seen_at = excluded.seen_at, root = excluded.root",
        (origin_id, article_id, path, position, now(), root))


def fill_root(conn: "psycopg.Connection", origin_id: str, root: str) -> bool:
    return conn.execute("UPDATE origins SET root = %s WHERE origin_id = %s AND root IS NULL",
                        (root, origin_id)).rowcount > 0


def delete_origin(conn: "psycopg.Connection", origin_id: str) -> None:
    conn.execute("DELETE FROM origins WHERE origin_id = %s", (origin_id,))


def orphans(conn: "psycopg.Connection") -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM articles a WHERE NOT EXISTS (SELECT 1 FROM origins o WHERE o.article_id = a.id)")]


def collection_stats(conn: "psycopg.Connection") -> tuple[int, int]:
    """(chunks, sum of their BM25 lengths): written to meta at each commit, so readers need no scan."""
    n, total = conn.execute("SELECT count(*), COALESCE(sum(length), 0) FROM chunks").fetchone()
    return int(n), int(total)


def add_pending(conn: "psycopg.Connection", ids: Sequence[int]) -> None:
    if ids:
        conn.execute("INSERT INTO vector_pending(chunk_id) SELECT unnest(%s::bigint[]) ON CONFLICT DO NOTHING",
                     (list(ids),))


def pending(conn: "psycopg.Connection") -> list[int]:
    return [r[0] for r in conn.execute("SELECT chunk_id FROM vector_pending")]


def clear_pending(conn: "psycopg.Connection", ids: Sequence[int]) -> None:
    conn.execute("DELETE FROM vector_pending WHERE chunk_id = ANY(%s)", (list(ids),))


# ----------------------------------------------------------------------------------------- reads ---
def origins_all(conn: "psycopg.Connection") -> list[tuple[str, str, str]]:
    return conn.execute("SELECT origin_id, article_id, path FROM origins").fetchall()


def origin_article(conn: "psycopg.Connection", origin_id: str) -> str | None:
    row = conn.execute("SELECT article_id FROM origins WHERE origin_id = %s", (origin_id,)).fetchone()
    return row[0] if row else None


def has_article(conn: "psycopg.Connection", article_id: str) -> bool:
    return conn.execute("SELECT 1 FROM articles WHERE id = %s", (article_id,)).fetchone() is not None


def article_ids(conn: "psycopg.Connection") -> set[str]:
    return {r[0] for r in conn.execute("SELECT id FROM articles")}


def roots(conn: "psycopg.Connection") -> set[str]:
    return {r[0] for r in conn.execute("SELECT DISTINCT root FROM origins WHERE root IS NOT NULL")}


def counts(conn: "psycopg.Connection") -> dict[str, int]:
    return {"articles": conn.execute("SELECT count(*) FROM articles").fetchone()[0],
            "chunks": conn.execute("SELECT count(*) FROM chunks").fetchone()[0]}


def existing(conn: "psycopg.Connection", ids: Sequence[int]) -> dict[int, int]:
    """chunk id → seq for those ``ids`` the catalog holds (what a reader keeps of a Milvus result)."""
    if not ids:
        return {}
    return dict(conn.execute("SELECT id, seq FROM chunks WHERE id = ANY(%s)", (list(ids),)).fetchall())


def postings_of(conn: "psycopg.Connection", terms: Sequence[str]) -> dict[str, tuple[np.ndarray, ...]]:
    """term → (chunk ids ascending, tfs float32, lengths float64, seqs) for those ``terms`` that occur."""
    rows = conn.execute(
        "SELECT p.term, p.chunk_id, p.tf, c.length, c.seq FROM postings p JOIN chunks c ON c.id = p.chunk_id "
        "WHERE p.term = ANY(%s) ORDER BY p.term, p.chunk_id", (list(terms),)).fetchall()
    out: dict[str, tuple[np.ndarray, ...]] = {}
    lo = 0
    for hi in range(1, len(rows) + 1):
        if hi == len(rows) or rows[hi][0] != rows[lo][0]:
            part = rows[lo:hi]
            out[part[0][0]] = (np.fromiter((r[1] for r in part), np.int64, len(part)),
                               np.fromiter((r[2] for r in part), np.float32, len(part)),
                               np.fromiter((r[3] for r in part), np.float64, len(part)),
                               np.fromiter((r[4] for r in part), np.int64, len(part)))
            lo = hi
    return out


def filter_sql(filters: Filters, dates_and_sources: bool = True) -> tuple[str, list[Any]]:
    """SQL over ``articles a`` (and ``chunks c`` for exclusions), as the local catalog filters: a date filter
    leaves undated articles out unless ``include_undated``."""
    parts: list[str] = []
    args: list[Any] = []
    if dates_and_sources:
        dates = []
        if filters.since:
            dates.append("a.date >= %s")
            args.append(filters.since)
        if filters.until:
            dates.append("a.date <= %s")
            args.append(filters.until)
        if dates:
            both = " AND ".join(dates)
            parts.append(f"({both} OR a.date IS NULL)" if filters.include_undated else both)
        if filters.sources:
            parts.append("a.source = ANY(%s)")
            args.append(list(filters.sources))
    if filters.exclude_articles:
        parts.append("NOT (c.article_id = ANY(%s))")
        args.append(list(filters.exclude_articles))
    return " AND ".join(parts), args


def allowed_among(conn: "psycopg.Connection", ids: Sequence[int], filters: Filters,
                  dates_and_sources: bool = True) -> set[int]:
    """Those of ``ids`` that pass ``filters``."""
    where, args = filter_sql(filters, dates_and_sources)
    if not where:
        return set(int(i) for i in ids)
    sql = f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id = ANY(%s) AND {where}"
    return {r[0] for r in conn.execute(sql, [list(ids), *args])}


def chunk_rows(conn: "psycopg.Connection", ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(id, article_id, ordinal, start, end, text, title, date, source, url, vector bytes) of stored ``ids``."""
    return conn.execute(
        'SELECT c.id, c.article_id, c.ordinal, c.start, c."end", substr(a.text, c.start + 1, c."end" - c.start), '
        "a.title, a.date, a.source, a.url, c.vector FROM chunks c JOIN articles a ON a.id = c.article_id "
        "WHERE c.id = ANY(%s)", (list(ids),)).fetchall()


def vector_of(conn: "psycopg.Connection", chunk: int) -> bytes | None:
    row = conn.execute("SELECT vector FROM chunks WHERE id = %s", (chunk,)).fetchone()
    return bytes(row[0]) if row else None


def vector_rows(conn: "psycopg.Connection", after: int, limit: int) -> list[tuple[Any, ...]]:
    """(id, article_id, date, source, title_terms, body_terms, vector) in id order after ``after``: what a
    rebuild of the Milvus collection from the catalog reads (no re-embedding)."""
    return conn.execute(
        "SELECT c.id, c.article_id, a.date, a.source, c.title_terms, c.body_terms, c.vector FROM chunks c "
        "JOIN articles a ON a.id = c.article_id WHERE c.id > %s ORDER BY c.id LIMIT %s", (after, limit)).fetchall()


def origins_of(conn: "psycopg.Connection", article_ids: Sequence[str]) -> dict[str, list[OriginRecord]]:
    out: dict[str, list[OriginRecord]] = {}
    if not article_ids:
        return out
    rows = conn.execute(
        "SELECT article_id, origin_id, path, position, root FROM origins WHERE article_id = ANY(%s) "
        "ORDER BY origin_id LIKE 'pasted:%%', path COLLATE \"C\", position, origin_id COLLATE \"C\"",
        (list(article_ids),))
    for aid, oid, path, pos, root in rows:
        out.setdefault(aid, []).append(OriginRecord(oid, path, pos, root))
    return out


def all_origins(conn: "psycopg.Connection") -> list[tuple[str, OriginRecord]]:
    rows = conn.execute('SELECT article_id, origin_id, path, position, root FROM origins '
                        'ORDER BY path COLLATE "C", position')
    return [(aid, OriginRecord(oid, p, pos, r)) for aid, oid, p, pos, r in rows]


def article(conn: "psycopg.Connection", article_id: str) -> ArticleRecord | None:
    row = conn.execute("SELECT id, title, date, source, url, text, metadata FROM articles WHERE id = %s",
                       (article_id,)).fetchone()
    if row is None:
        return None
    origins = tuple(r[0] for r in conn.execute(
        'SELECT origin_id FROM origins WHERE article_id = %s ORDER BY origin_id COLLATE "C"', (article_id,)))
    return ArticleRecord(*row[:6], metadata=json.loads(row[6] or "{}"), origins=origins)


def sources(conn: "psycopg.Connection") -> list[str]:
    rows = conn.execute("SELECT DISTINCT source FROM articles WHERE source IS NOT NULL AND source != ''")
    return sorted(r[0] for r in rows)  # Python's order, as SQLite's BINARY collation sorts (by code point)


def source_stats(conn: "psycopg.Connection") -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT NULLIF(source, ''), count(*), min(date COLLATE \"C\"), max(date COLLATE \"C\"), "
        "count(*) FILTER (WHERE date IS NULL) FROM articles GROUP BY NULLIF(source, '')").fetchall()
    rows.sort(key=lambda r: (r[0] is None, -r[1], r[0] or ""))
    return [{"source": s, "articles": n, "date_from": lo, "date_to": hi, "undated": u} for s, n, lo, hi, u in rows]


def filter_counts(conn: "psycopg.Connection", filters: Filters) -> tuple[int, int]:
    plain = Filters(filters.since, filters.until, filters.sources, filters.include_undated)
    where, args = filter_sql(plain)
    matching = conn.execute(f"SELECT count(*) FROM articles a {'WHERE ' + where if where else ''}",
                            args).fetchone()[0]
    undated = 0
    if plain.dates and not plain.include_undated:
        where, args = filter_sql(Filters(sources=plain.sources))
        undated = conn.execute("SELECT count(*) FROM articles a WHERE a.date IS NULL"
                               + (f" AND {where}" if where else ""), args).fetchone()[0]
    return int(matching), int(undated)


def status_counts(conn: "psycopg.Connection") -> dict[str, Any]:
    dates = conn.execute('SELECT min(date COLLATE "C"), max(date COLLATE "C") FROM articles '
                         "WHERE date IS NOT NULL").fetchone()
    return {
        "articles": conn.execute("SELECT count(*) FROM articles").fetchone()[0],
        "origins": conn.execute("SELECT count(*) FROM origins").fetchone()[0],
        "chunks": conn.execute("SELECT count(*) FROM chunks").fetchone()[0],
        "sources": conn.execute("SELECT count(DISTINCT source) FROM articles WHERE source IS NOT NULL").fetchone()[0],
        "date_from": dates[0], "date_to": dates[1],
        "size_bytes": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],
    }
