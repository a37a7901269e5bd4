"""The persisted index: one SQLite catalog plus a FAISS file per committed generation.

Why this layout:
- SQLite is the single source of truth, committed atomically: articles, their origins (file + position,
  so identical articles from two files are stored once), chunks with offsets *and their vectors* (float32
  blobs), an FTS5 table of normalized, stemmed keyword terms, and the same terms as BM25 postings
  (index/postings.py: scored in numpy, FTS5 stays the record and the fallback for an older index).
- FAISS (``vectors-<generation>.faiss``) is a fast-loading copy of the vectors, written aside and renamed
  *before* the SQLite commit that names its generation. A crash at any point leaves SQLite at the previous
  generation, whose FAISS file still exists; and if a FAISS file is ever missing or disagrees with SQLite
  (different chunk ids), the loader rebuilds it from the blobs instead of serving mixed vectors.
- Readers take a read transaction per question (WAL mode), so they see one generation, never a half
  update, and reload vectors only when the generation changes.
- No pickle: FAISS's own writer and JSON in SQLite only.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import quote

import numpy as np

from . import faults, ivf, postings
from .backend import (ArticleRecord, ChunkRecord, EmbedderMismatch, FirstBuild, IndexInfo, IndexInvalid,  # noqa: F401
                      IndexMissing, NO_FILTERS, Filters, OriginRecord, format_origin)
from .lock import WriterLock, holder
from .migrations import LATEST as _LATEST_MIGRATION, migrate
from .vectors import VectorIndex

#: Catalog version this program writes; older ones are read as they are and migrated by the next writer
#: (index/migrations.py), never rebuilt.
SCHEMA_VERSION = 2
assert SCHEMA_VERSION == _LATEST_MIGRATION
OLDEST_SCHEMA = 1
#: Sources `rag index status` names (most articles first); `rag index sources` lists them all.
TOP_SOURCES = 5
CATALOG = "catalog.sqlite"
VECTOR_GLOB = "vectors-*.faiss"
#: meta key present while an index's first build is unfinished: JSON {"paths": [...], "total": n | null}
FIRST_BUILD = "first_build"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles(
    id TEXT PRIMARY KEY, title TEXT NOT NULL, date TEXT, source TEXT, url TEXT, text TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}', added_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS articles_date ON articles(date);
CREATE INDEX IF NOT EXISTS articles_source ON articles(source);
CREATE TABLE IF NOT EXISTS origins(
    origin_id TEXT PRIMARY KEY, article_id TEXT NOT NULL, path TEXT NOT NULL, position INTEGER NOT NULL,
    seen_at TEXT NOT NULL, root TEXT);
CREATE INDEX IF NOT EXISTS origins_article ON origins(article_id);
CREATE INDEX IF NOT EXISTS origins_path ON origins(path);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, n_tokens INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, body, tokenize='unicode61 remove_diacritics 0');
"""


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def catalog_path(root: Path) -> Path:
    return Path(root) / CATALOG


def exists(root: Path) -> bool:
    return catalog_path(root).is_file()


def _connect(root: Path, write: bool = False) -> sqlite3.Connection:
    """A connection to the catalog. A file that is not an SQLite database is IndexInvalid; a folder that cannot
    be written (read-only mount, no permission) still opens for reading; other failures to open (a full disk)
    are the OSError they really are."""
    try:
        conn = sqlite3.connect(catalog_path(root), isolation_level=None, check_same_thread=False, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error:
            conn.close()
            raise
        return conn
    except sqlite3.OperationalError as exc:
        if not write and not os.access(root, os.W_OK):
            return _connect_read_only(root, exc)
        if (err := storage_error(exc, root)) is exc:
            raise
        raise err from exc
    except sqlite3.DatabaseError as exc:
        raise IndexInvalid(f"{catalog_path(root)} is not a readable index catalog ({exc}): move the folder {root} "
                           "away and build the index again with `rag index build`") from exc


def _connect_read_only(root: Path, cause: sqlite3.OperationalError) -> sqlite3.Connection:
    """Read an index in a folder nobody can write. With no WAL file the catalog is complete and cannot change
    (a writer would have to create the WAL), so it is opened immutable; with one, SQLite reads WAL and -shm."""
    path = catalog_path(root)
    wal = path.with_name(path.name + "-wal")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro" + ("" if wal.exists() else "&immutable=1")
    try:
        return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
    except sqlite3.Error:
        if (err := storage_error(cause, root)) is cause:
            raise cause from None
        raise err from cause


#: SQLite primary result codes that are really the file system speaking.
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 3, 8, 10, 13, 14


def storage_error(exc: sqlite3.Error, root: Path) -> OSError | sqlite3.Error:
    """An SQLite failure to read or write the catalog as the OSError behind it (disk full, read-only, I/O), so
    callers report it like any other failed write; other SQLite errors are returned unchanged."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code not in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN):
        return exc
    try:
        nearly_full = shutil.disk_usage(root).free < 1024 * 1024
        read_only = bool(os.statvfs(root).f_flag & os.ST_RDONLY)
    except OSError:
        nearly_full = read_only = False
    if code == _SQLITE_FULL:
        number = errno.ENOSPC
    elif read_only or code == _SQLITE_READONLY:   # before free space: a read-only image reports none
        number = errno.EROFS
    elif nearly_full:
        number = errno.ENOSPC
    elif code in (_SQLITE_PERM, _SQLITE_CANTOPEN) or not os.access(root, os.W_OK):
        number = errno.EACCES
    else:
        number = errno.EIO
    return OSError(number, f"{os.strerror(number)} ({exc})", str(catalog_path(root)))


def _read_meta(conn: sqlite3.Connection, root: Path | None = None) -> dict[str, str]:
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    except sqlite3.DatabaseError as exc:
        where = f" at {root}" if root is not None else ""
        raise IndexInvalid(f"not a readable index catalog{where}: {exc}: rebuild it with `rag index build`") from exc


_TABLES = ("meta", "articles", "origins", "chunks", "chunks_fts")


def _check_tables(conn: sqlite3.Connection, root: Path) -> None:
    """A catalog from elsewhere must have this version's tables before anything is read from it."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = [t for t in _TABLES if t not in names]
    if missing:
        raise IndexInvalid(f"index at {root} has no {', '.join(missing)} table: it is not an index this program "
                           "wrote; rebuild it with `rag index build`")


def _info(meta: dict[str, str], root: Path) -> IndexInfo:
    try:
        if not OLDEST_SCHEMA <= int(meta["schema"]) <= SCHEMA_VERSION:
            raise IndexInvalid(f"index at {root} has schema version {meta['schema']}, this program reads "
                               f"versions {OLDEST_SCHEMA} to {SCHEMA_VERSION}: rebuild it with `rag index build`")
    except (KeyError, ValueError) as exc:
        raise IndexInvalid(f"index at {root} is missing or has a bad setting ({exc}): rebuild it with "
                           "`rag index build`") from exc
    return IndexInfo.from_meta(meta, f"index at {root}")


def _vector_file(root: Path, generation: int) -> Path:
    return Path(root) / f"vectors-{generation:08d}.faiss"


def _load_vectors(conn: sqlite3.Connection, root: Path, info: IndexInfo) -> VectorIndex:
    """The FAISS index for the generation the connection's transaction sees, verified against SQLite: same
    dimension, same chunk ids, and a sample of vectors equal to their blobs (a file from another index or
    another generation with the same ids is not served)."""
    ids = np.fromiter((r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")), dtype=np.int64)
    path = _vector_file(root, info.generation)
    if path.is_file():
        try:
            vectors = ivf.read(path)
            if vectors.dim == info.dim and len(vectors) == len(ids) and np.array_equal(np.sort(vectors.ids()), ids) \
                    and _sample_matches(conn, vectors, ids):
                return vectors
        except RuntimeError:
            pass  # unreadable file: fall through to the rebuild
    return _vectors_from_blobs(conn, info.dim, root)


#: Vectors compared with their SQLite blobs when a FAISS file is loaded (evenly spread over the chunk ids).
VERIFY_SAMPLE = 32


def _sample_matches(conn: sqlite3.Connection, vectors: VectorIndex, ids: np.ndarray) -> bool:
    if not len(ids):
        return True
    picks = np.unique(ids[np.linspace(0, len(ids) - 1, min(VERIFY_SAMPLE, len(ids))).astype(np.int64)]).tolist()
    rows = conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(picks))})", picks)
    # IVF-SQ8 holds 8-bit codes: its reconstruction is within quantization error of the blob, not equal to it
    same = (lambda a, b: float(a @ b) >= 0.999) if ivf.is_ivf(vectors) else np.array_equal
    return all(same(vectors.reconstruct(i), np.frombuffer(blob, np.float32)) for i, blob in rows)


def _vectors_from_blobs(conn: sqlite3.Connection, dim: int, root: Path | None = None) -> VectorIndex:
    rows = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    if any(len(r[1]) != 4 * dim for r in rows):
        raise IndexInvalid(f"index at {root} records {dim}-dimensional vectors but its chunks hold vectors of "
                           "another size: rebuild it with `rag index build`")
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim) \
        if rows else np.zeros((0, dim), np.float32)
    return ivf.for_size(VectorIndex.from_rows(dim, ids, mat), rows=(ids, mat))


def export_articles(root: Path | str) -> Iterator[tuple[dict[str, Any], list[tuple[Any, ...]], list[OriginRecord]]]:
    """Every article of the index at ``root`` as stored, for copying it to another backend without
    re-embedding (``rag index migrate``): (article row, its chunks as (rowid, ordinal, start, end, n_tokens,
    title terms, body terms, float32 vector), its origins), in rowid order of the first chunk. Read-only, in
    one read transaction (one generation)."""
    conn = _connect(Path(root))
    try:
        conn.execute("BEGIN")
        has_root = any(r[1] == "root" for r in conn.execute("PRAGMA table_info(origins)"))
        ids = [r[0] for r in conn.execute(
            "SELECT a.id FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.id "
            "ORDER BY min(c.id), a.id")]
        for aid in ids:
            row = conn.execute("SELECT id, title, date, source, url, text, metadata FROM articles WHERE id = ?",
                               (aid,)).fetchone()
            article = dict(zip(("id", "title", "date", "source", "url", "text"), row[:6]))
            article["metadata"] = json.loads(row[6] or "{}")
            chunks = [(cid, o, s, e, n, t or "", b or "", np.frombuffer(v, np.float32)) for cid, o, s, e, n, v, t, b in
                      conn.execute("SELECT c.id, c.ordinal, c.start, c.end, c.n_tokens, c.vector, f.title, f.body "
                                   "FROM chunks c LEFT JOIN chunks_fts f ON f.rowid = c.id WHERE c.article_id = ? "
                                   "ORDER BY c.ordinal", (aid,))]
            origins = [OriginRecord(o, p, pos, r) for o, p, pos, r in conn.execute(
                f"SELECT origin_id, path, position, {'root' if has_root else 'NULL'} FROM origins "
                "WHERE article_id = ? ORDER BY origin_id", (aid,))]
            yield article, chunks, origins
        conn.execute("COMMIT")
    finally:
        conn.close()


def _blob_rows(conn: sqlite3.Connection, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, float32 vectors) from the chunks' blobs: what the scale path trains from."""
    rows = conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)


class Snapshot:
    """One generation of the index, seen consistently for the length of a ``with store.snapshot()``."""

    def __init__(self, conn: sqlite3.Connection, vectors: VectorIndex, info: IndexInfo,
                 collection: postings.Collection | None = None, root: Path | None = None) -> None:
        self.conn, self.vectors, self.info, self.root = conn, vectors, info, root
        self.collection = collection  # None: an index without postings, keyword search by FTS5
        self._allowed: dict[tuple[Any, ...], np.ndarray] = {}
        self._postings: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}

    def _read_postings(self, terms: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The postings of those of ``terms`` that occur, read once per snapshot: one question's keyword
        search, its coverage and the keyword scores of its dense candidates all read the same terms."""
        missing = [t for t in dict.fromkeys(terms) if t not in self._postings]
        if missing:
            found = postings.read(self.conn, missing)
            self._postings.update({t: found.get(t) for t in missing})
        return [p for t in dict.fromkeys(terms) if (p := self._postings[t]) is not None]

    def allowed_ids(self, filters: Filters = NO_FILTERS) -> np.ndarray | None:
        """Chunk ids that pass ``filters`` (exclusions included), or None when there are none (everything
        allowed). Remembered for the snapshot: the dense and the keyword search of one question ask for the
        same filters."""
        where, args = _filter_sql(filters.since, filters.until, filters.sources, filters.include_undated)
        if filters.exclude_articles:
            marks = ",".join("?" * len(filters.exclude_articles))
            where = " AND ".join(w for w in (where, f"c.article_id NOT IN ({marks})") if w)
            args = [*args, *filters.exclude_articles]
        if not where:
            return None
        if (key := (where, *args)) not in self._allowed:
            join = "JOIN articles a ON a.id = c.article_id" if filters.dates or filters.sources else ""
            sql = f"SELECT c.id FROM chunks c {join} WHERE {where}"
            self._allowed[key] = np.fromiter((r[0] for r in self.conn.execute(sql, args)), dtype=np.int64)
        return self._allowed[key]

    def dense(self, query: np.ndarray, k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        return self.vectors.search(query, k, self.allowed_ids(filters))

    def keyword(self, terms: Sequence[str], k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        """BM25 (FTS5's, column weights title 0.5, body 1.0); returns (chunk id, score) with higher = better.
        The date and source filters apply before the top-k, ``exclude_articles`` after it (see Filters)."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0:
            return []
        scoped = replace(filters, exclude_articles=()) if filters.exclude_articles else filters
        if self.collection is not None:
            found = postings.top_k(self._read_postings(terms), self.collection, k, self.allowed_ids(scoped))
        else:
            match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
            where, args = _filter_sql(scoped.since, scoped.until, scoped.sources, scoped.include_undated)
            join = "JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id" if where else ""
            sql = (f"SELECT f.rowid, bm25(chunks_fts, 0.5, 1.0) AS s FROM chunks_fts f {join} "
                   f"WHERE chunks_fts MATCH ? {'AND ' + where if where else ''} ORDER BY s LIMIT ?")
            found = [(int(r), -float(s)) for r, s in self.conn.execute(sql, [match, *args, k])]
        if filters.exclude_articles:
            ok = set(self.allowed_ids(filters).tolist())
            found = [(i, s) for i, s in found if i in ok]
        return found

    def known_terms(self, terms: Sequence[str]) -> int:
        """How many of ``terms`` occur anywhere in the keyword index (a cheap language-coverage signal)."""
        if self.collection is not None:
            return len(self._read_postings(terms))
        n = 0
        for t in dict.fromkeys(terms):
            q = '"' + t.replace('"', '""') + '"'
            if self.conn.execute("SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT 1", (q,)).fetchone():
                n += 1
        return n

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25's idf of each of ``terms`` that occurs in the index (absent terms are left out); 1.0 each on
        an index without postings (bench/native_retrieval.py weighs question terms by it)."""
        uniq = [t for t in dict.fromkeys(terms) if t]
        if self.collection is None:
            return {t: 1.0 for t in uniq}
        self._read_postings(uniq)
        return {t: postings.idf(self.collection.n, len(p[0])) for t in uniq if (p := self._postings.get(t)) is not None}

    def df(self, term: str) -> int:
        """How many chunks hold ``term`` (0 when none; on an index without postings, by FTS5)."""
        if self.collection is not None:
            found = self._read_postings([term])
            return len(found[0][0]) if found else 0
        q = '"' + term.replace('"', '""') + '"'
        return int(self.conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (q,)).fetchone()[0])

    def keyword_scores(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        """BM25 (as :meth:`keyword` scores it) of the chunks ``ids`` that hold at least one of ``terms``,
        whether or not they would make a keyword top-k: the hybrid retriever's dense candidates."""
        terms = [t for t in dict.fromkeys(terms) if t]
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not terms or not ids:
            return {}
        if self.collection is not None:
            return postings.scores(self._read_postings(terms), self.collection, ids)
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        marks = ",".join("?" * len(ids))
        sql = (f"SELECT rowid, bm25(chunks_fts, 0.5, 1.0) FROM chunks_fts "
               f"WHERE chunks_fts MATCH ? AND rowid IN ({marks})")
        return {int(r): -float(s) for r, s in self.conn.execute(sql, [match, *ids])}

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        sql = (f"SELECT c.id, c.article_id, c.ordinal, c.start, c.end, substr(a.text, c.start + 1, c.end - c.start),"
               f" a.title, a.date, a.source, a.url FROM chunks c JOIN articles a ON a.id = c.article_id "
               f"WHERE c.id IN ({marks})")
        rows = self.conn.execute(sql, ids).fetchall()
        origins = self.first_origins([r[1] for r in rows])
        return {r[0]: ChunkRecord(*r, origin=(o.label if (o := origins.get(r[1])) else None)) for r in rows}

    def _has_roots(self) -> bool:
        """Schema 2's ``origins.root``: an older index (not yet migrated by a writer) is read without it."""
        return any(r[1] == "root" for r in self.conn.execute("PRAGMA table_info(origins)"))

    def origins_of(self, article_ids: Sequence[str]) -> dict[str, list[OriginRecord]]:
        """article id → its origins, file-read ones before pasted ones, then by path and position."""
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        root = "root" if self._has_roots() else "NULL"
        out: dict[str, list[OriginRecord]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            sql = (f"SELECT article_id, origin_id, path, position, {root} FROM origins WHERE article_id IN "
                   f"({','.join('?' * len(part))}) ORDER BY origin_id LIKE 'pasted:%', path, position, origin_id")
            for aid, oid, path, pos, r in self.conn.execute(sql, part):
                out.setdefault(aid, []).append(OriginRecord(oid, path, pos, r))
        return out

    def first_origins(self, article_ids: Sequence[str]) -> dict[str, OriginRecord]:
        return {a: o[0] for a, o in self.origins_of(article_ids).items()}

    def find_origins(self, origin_id: str | None = None, path: str | None = None,
                     position: int | None = None) -> list[tuple[str, OriginRecord]]:
        """(article id, origin) for an exact origin id, or for a file path (absolute, or as shown in a citation:
        the indexed folder's name and the path inside it), optionally at one position."""
        root = "root" if self._has_roots() else "NULL"
        rows = self.conn.execute(f"SELECT article_id, origin_id, path, position, {root} FROM origins "
                                 "ORDER BY path, position")
        found = []
        for aid, oid, p, pos, r in rows:
            o = OriginRecord(oid, p, pos, r)
            if origin_id is not None:
                ok = oid == origin_id
            else:
                shown = o.label.split("#", 1)[0]
                ok = path in (p, shown) and (position is None or pos == position)
            if ok:
                found.append((aid, o))
        return found

    def article(self, article_id: str) -> ArticleRecord | None:
        row = self.conn.execute("SELECT id, title, date, source, url, text, metadata FROM articles WHERE id = ?",
                                (article_id,)).fetchone()
        if row is None:
            return None
        origins = tuple(r[0] for r in self.conn.execute(
            "SELECT origin_id FROM origins WHERE article_id = ? ORDER BY origin_id", (article_id,)))
        return ArticleRecord(*row[:6], metadata=json.loads(row[6] or "{}"), origins=origins)

    def sources(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT source FROM articles WHERE source IS NOT NULL AND source != '' ORDER BY source")]

    def source_stats(self) -> list[dict[str, Any]]:
        """Every source with its article count, date range and undated count, most articles first; articles
        without a source are one row with ``source`` None (last)."""
        rows = self.conn.execute(
            "SELECT NULLIF(source, ''), count(*), min(date), max(date), sum(date IS NULL) FROM articles "
            "GROUP BY NULLIF(source, '') ORDER BY NULLIF(source, '') IS NULL, count(*) DESC, source")
        return [{"source": s, "articles": n, "date_from": lo, "date_to": hi, "undated": u}
                for s, n, lo, hi, u in rows]

    def filter_counts(self, filters: Filters) -> tuple[int, int]:
        """(articles that pass the date and source filters, undated articles the date filters leave out): what
        a question's answer must say when a filter leaves nothing, or quietly drops the articles without a date."""
        since, until, sources = filters.since, filters.until, filters.sources or None
        include_undated = filters.include_undated
        where, args = _filter_sql(since, until, sources, include_undated)
        matching = self.conn.execute(f"SELECT count(*) FROM articles a {'WHERE ' + where if where else ''}",
                                     args).fetchone()[0]
        undated = 0
        if (since or until) and not include_undated:
            where, args = _filter_sql(None, None, sources)
            undated = self.conn.execute("SELECT count(*) FROM articles a WHERE a.date IS NULL"
                                        + (f" AND {where}" if where else ""), args).fetchone()[0]
        return matching, undated

    def vector(self, chunk_id: int) -> np.ndarray:
        return self.vectors.reconstruct(chunk_id)

    def status(self, root: Path | None = None) -> dict[str, Any]:
        c = self.conn
        root = Path(root if root is not None else self.root or ".")
        dates = c.execute("SELECT min(date), max(date) FROM articles WHERE date IS NOT NULL").fetchone()
        size = sum(f.stat().st_size for f in Path(root).iterdir() if f.is_file())
        return {
            "index": str(root),
            "articles": c.execute("SELECT count(*) FROM articles").fetchone()[0],
            "origins": c.execute("SELECT count(*) FROM origins").fetchone()[0],
            "chunks": c.execute("SELECT count(*) FROM chunks").fetchone()[0],
            "sources": c.execute("SELECT count(DISTINCT source) FROM articles WHERE source IS NOT NULL").fetchone()[0],
            "date_from": dates[0], "date_to": dates[1],
            "embedder": self.info.embedder, "embedder_identity": self.info.identity, "dim": self.info.dim,
            "chunking": self.info.chunking, "generation": self.info.generation,
            "created_at": self.info.created_at, "last_update": self.info.updated_at,
            "size_bytes": size,
            "first_build": _first_build_note(c),
            "top_sources": [{"source": r["source"], "articles": r["articles"]}
                            for r in self.source_stats() if r["source"] is not None][:TOP_SOURCES],
        }


def _filter_sql(since: str | None, until: str | None, sources: Sequence[str] | None,
                include_undated: bool = False) -> tuple[str, list[Any]]:
    """SQL over ``articles a``. A date filter leaves undated articles out (their date is unknown, not in
    range) unless ``include_undated``; the answer says how many it left out (Snapshot.filter_counts)."""
    parts, args = [], []
    dates = []
    if since:
        dates.append("a.date >= ?")
        args.append(since)
    if until:
        dates.append("a.date <= ?")
        args.append(until)
    if dates:
        both = " AND ".join(dates)
        parts.append(f"({both} OR a.date IS NULL)" if include_undated else both)
    if sources:
        parts.append(f"a.source IN ({','.join('?' * len(sources))})")
        args.extend(sources)
    return " AND ".join(parts), args


def _first_build_note(conn: sqlite3.Connection) -> dict[str, Any] | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (FIRST_BUILD,)).fetchone()
    if row is None:
        return None
    try:
        note = json.loads(row[0])
    except ValueError:
        note = {}
    return note if isinstance(note, dict) else {}


def first_build(root: Path | str) -> FirstBuild | None:
    """The state of a first build at ``root``, or None for a complete index (or no index and no writer).

    Readers ask this instead of reading a half-made catalog: the writer commits an empty schema before it
    embeds anything and records what it builds in ``meta`` (key FIRST_BUILD), and the articles committed at
    each checkpoint are the progress. Read-only and lock-free, so it never slows the writer down.
    """
    root = Path(root)
    writer = holder(root)
    if not exists(root):
        return FirstBuild(writer, 0, None, ()) if writer else None
    try:
        conn = _connect(root)
    except (OSError, IndexInvalid, sqlite3.Error):
        return None
    try:
        note = _first_build_note(conn)
        if note is None:
            return None
        articles = conn.execute("SELECT count(*) FROM articles").fetchone()[0]
    except sqlite3.Error:
        return FirstBuild(writer, 0, None, ()) if writer else None
    finally:
        conn.close()
    total = note.get("total")
    return FirstBuild(writer, int(articles), int(total) if isinstance(total, int) else None,
                      tuple(str(p) for p in note.get("paths") or ()))


def _create_catalog(root: Path, meta: Sequence[tuple[str, str]]) -> None:
    """Write a new, empty catalog aside and rename it into place.

    Why: whoever looks at the folder — a reader, a second writer, the next run after a kill — then finds no
    catalog or a complete empty one, never a file without tables ("no such table: meta"), and a first build
    can commit checkpoints like any update instead of running in one transaction.
    """
    path = catalog_path(root)
    tmp = path.with_name(f".catalog.tmp-{os.getpid()}")
    for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
        leftover.unlink(missing_ok=True)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN")
            for stmt in _SCHEMA.strip().split(";\n"):
                if stmt.strip():
                    conn.execute(stmt)
            postings.create(conn)
            postings.mark_complete(conn)
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta)
            conn.execute("COMMIT")
        finally:
            conn.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class Store:
    """Read access to an index folder, safe to share between threads (the UI's sessions, a load test).

    Each thread gets its own SQLite connection (a read transaction belongs to a connection); the loaded
    vectors are shared and replaced only when a newer generation is committed.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        if not exists(self.root):
            raise IndexMissing(f"no index at {self.root}")
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._vectors: dict[int, VectorIndex] = {}
        self._collections: dict[int, postings.Collection] = {}  # keyword statistics, by generation
        try:
            conn = self._conn()
        except OSError as exc:
            raise IndexInvalid(f"cannot open the index at {self.root}: {exc.strerror or exc}") from exc
        self.info = _info(_read_meta(conn, self.root), self.root)
        _check_tables(conn, self.root)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self.root)
            with self._lock:
                self._conns.append(conn)
        return conn

    @property
    def location(self) -> str:
        return str(self.root)

    def check_embedder(self, identity: str, dim: int) -> None:
        if identity != self.info.identity or dim != self.info.dim:
            raise EmbedderMismatch.for_reader(str(self.root), self.info, identity, dim)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            meta = _read_meta(conn, self.root)
            info = _info(meta, self.root)
            with self._lock:
                vectors = self._vectors.get(info.generation)
                if vectors is None:
                    vectors = _load_vectors(conn, self.root, info)
                    self._vectors[info.generation] = vectors
                    for old in sorted(self._vectors)[:-2]:  # keep the newest two for snapshots in flight
                        del self._vectors[old]
                collection = self._collections.get(info.generation)
                if collection is None and postings.present(meta):
                    collection = self._collections[info.generation] = postings.Collection.load(conn)
                    for old in sorted(self._collections)[:-2]:
                        del self._collections[old]
                self.info = max(self.info, info, key=lambda i: i.generation)
            yield Snapshot(conn, vectors, info, collection, self.root)
        finally:
            conn.execute("COMMIT")

    def generation_on_disk(self) -> int:
        """The committed generation now (cheap): callers use it to notice an update made elsewhere."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else -1

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()


def path_under(path: str, roots: Sequence[str]) -> bool:
    """Whether an origin's file ``path`` is one of ``roots`` (resolved paths) or lies inside one."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


class Writer:
    """The one writer: holds the lock, keeps FAISS in step with SQLite, commits both as one generation."""

    def __init__(self, root: Path | str, embedder_spec: str, identity: str, dim: int, chunking: str,
                 fresh: bool = False, first_build: dict[str, Any] | None = None) -> None:
        """``first_build``: what to record (paths, total) if this writer creates the index; readers show it
        while the build runs, and it stays until a run completes (see :func:`first_build`)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.postings = postings.PendingPostings()
        self.dirty = False  # anything to publish? a run that changed nothing makes no new generation
        self._lock = WriterLock(self.root).acquire()
        try:
            self._open(embedder_spec, identity, dim, chunking, fresh, first_build or {})
        except BaseException as exc:
            if getattr(self, "conn", None) is not None:
                self.conn.close()  # and with it the write transaction _open began
            self._lock.release()
            if isinstance(exc, sqlite3.OperationalError) and (err := storage_error(exc, self.root)) is not exc:
                raise err from exc
            raise

    def _open(self, embedder_spec: str, identity: str, dim: int, chunking: str, fresh: bool,
              first_build: dict[str, Any]) -> None:
        for tmp in self.root.glob(".catalog.tmp-*"):  # left by a writer killed while creating one (we hold the lock)
            tmp.unlink(missing_ok=True)
        if not exists(self.root):
            stamp = now()
            _create_catalog(self.root, [
                ("schema", str(SCHEMA_VERSION)), ("embedder", embedder_spec), ("identity", identity),
                ("dim", str(dim)), ("chunking", chunking), ("generation", "0"), ("created_at", stamp),
                ("updated_at", stamp), (FIRST_BUILD, json.dumps(first_build, ensure_ascii=False))])
            faults.point("catalog-created")
        self.conn = _connect(self.root, write=True)
        meta = _read_meta(self.conn, self.root) if self._has_meta() else {}
        self.conn.execute("BEGIN IMMEDIATE")
        if meta and not fresh:
            info = _info(meta, self.root)
            _check_tables(self.conn, self.root)
            if info.identity != identity or info.dim != dim:
                self.conn.execute("ROLLBACK")
                raise EmbedderMismatch.for_writer(str(self.root), info, identity)
            self.rechunk = info.chunking != chunking
            if not postings.present(meta):  # an index from before the postings: build them, in this transaction
                postings.build(self.conn, self.postings)
                self.dirty = True
            if migrate(self.conn, int(meta["schema"])) != int(meta["schema"]):  # in this transaction: no re-embedding
                self.dirty = True
        else:  # a rebuild that replaces the index (one transaction: the old one stays until the new is complete)
            for table in ("chunks_fts", "chunks", "origins", "articles", "meta", *postings.TABLES):
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
            for stmt in _SCHEMA.strip().split(";\n"):
                if stmt.strip():
                    self.conn.execute(stmt)
            postings.create(self.conn)
            postings.mark_complete(self.conn)
            stamp = now()
            generation = int(meta.get("generation", 0)) if meta else 0
            self.conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [
                ("schema", str(SCHEMA_VERSION)), ("embedder", embedder_spec), ("identity", identity),
                ("dim", str(dim)), ("chunking", chunking), ("generation", str(generation)),
                ("created_at", stamp), ("updated_at", stamp)])
            self.rechunk = False
            self.dirty = True
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'chunking'", (chunking,))
        self.info = _info(_read_meta(self.conn, self.root), self.root)
        self.vectors = _load_vectors(self.conn, self.root, self.info) if meta and not fresh \
            else VectorIndex.empty(dim)
        if meta and not fresh:
            # a writer killed after its commit left the cleanup undone, and a run with nothing to publish
            # makes no commit: do it now
            self._clean_up(self.info.generation)

    def _has_meta(self) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is not None

    # -- reads inside the write transaction ---------------------------------------------------------------
    def origins_under(self, paths: Iterable[Path] | None) -> dict[str, tuple[str, str]]:
        """origin_id → (article_id, path) for origins whose file lies under ``paths`` (all when None)."""
        rows = self.conn.execute("SELECT origin_id, article_id, path FROM origins")
        if paths is None:
            return {o: (a, p) for o, a, p in rows}
        roots = [str(Path(p).resolve()) for p in paths]
        return {o: (a, p) for o, a, p in rows if path_under(p, roots)}

    def origin(self, origin_id: str) -> str | None:
        row = self.conn.execute("SELECT article_id FROM origins WHERE origin_id = ?", (origin_id,)).fetchone()
        return row[0] if row else None

    def has_article(self, article_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone() is not None

    def article_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM articles")]

    def counts(self) -> dict[str, int]:
        """Articles and chunks as this transaction sees them (the report at the end of an update)."""
        return {"articles": self.conn.execute("SELECT count(*) FROM articles").fetchone()[0],
                "chunks": self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]}

    def first_build(self) -> dict[str, Any] | None:
        """The unfinished first build's note (see :func:`first_build`), or None."""
        return _first_build_note(self.conn)

    # -- writes -------------------------------------------------------------------------------------------
    def note_first_build(self, **values: Any) -> None:
        """Update the unfinished first build's note (e.g. the total once counted); no-op on a complete index."""
        note = self.first_build()
        if note is not None:
            note.update(values)
            self.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(note, ensure_ascii=False),
                                                                          FIRST_BUILD))
            self.dirty = True

    def finish_first_build(self) -> None:
        """The index now holds everything its first build set out to index."""
        if self.first_build() is not None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (FIRST_BUILD,))
            self.dirty = True

    def add_article(self, article_id: str, title: str, text: str, date: str | None, source: str | None,
                    url: str | None, metadata: dict[str, Any], title_terms: str,
                    chunks: Sequence[tuple[int, int, int, int, str]], vectors: np.ndarray) -> list[int]:
        """Insert an article with its chunks ((ordinal, start, end, n_tokens, body terms)) and vectors."""
        self.dirty = True
        self.conn.execute(
            "INSERT INTO articles(id, title, date, source, url, text, metadata, added_at) VALUES (?,?,?,?,?,?,?,?)",
            (article_id, title, date, source, url, text, json.dumps(metadata, ensure_ascii=False, default=str),
             now()))
        ids: list[int] = []
        for (ordinal, start, end, n_tokens, body_terms), vec in zip(chunks, vectors):
            cur = self.conn.execute(
                "INSERT INTO chunks(article_id, ordinal, start, end, n_tokens, vector) VALUES (?,?,?,?,?,?)",
                (article_id, ordinal, start, end, n_tokens, np.asarray(vec, np.float32).tobytes()))
            ids.append(int(cur.lastrowid))
            self.conn.execute("INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
                              (cur.lastrowid, title_terms, body_terms))
            self.postings.add_chunk(self.conn, ids[-1], title_terms, body_terms)
        self.vectors.add(np.asarray(ids, np.int64), np.asarray(vectors, np.float32).reshape(len(ids), -1))
        return ids

    def set_origin(self, origin_id: str, article_id: str, path: str, position: int,
                   root: str | None = None) -> None:
        self.dirty = True
        self.conn.execute(
            "INSERT INTO origins(origin_id, article_id, path, position, seen_at, root) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(origin_id) DO UPDATE SET article_id = excluded.article_id, path = excluded.path, "
            "position = excluded.position, seen_at = excluded.seen_at, root = excluded.root",
            (origin_id, article_id, path, position, now(), root))

    def roots(self) -> set[str]:
        """The folders origins are shown relative to so far (schema 2; see format_origin)."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT root FROM origins WHERE root IS NOT NULL")}

    def fill_root(self, origin_id: str, root: str | None) -> None:
        """Give an unchanged origin from before schema 2 its root (nothing to do once it has one)."""
        if root is not None and self.conn.execute(
                "UPDATE origins SET root = ? WHERE origin_id = ? AND root IS NULL", (root, origin_id)).rowcount:
            self.dirty = True  # worth a commit even when nothing else changed

    def remove_origin(self, origin_id: str) -> None:
        self.dirty = True
        self.conn.execute("DELETE FROM origins WHERE origin_id = ?", (origin_id,))

    def remove_orphans(self) -> int:
        """Delete articles no origin points to any more, with their chunks, keywords and vectors."""
        orphans = [r[0] for r in self.conn.execute(
            "SELECT id FROM articles WHERE id NOT IN (SELECT article_id FROM origins)")]
        for article_id in orphans:
            self.remove_article(article_id)
        return len(orphans)

    def remove_article(self, article_id: str) -> None:
        self.dirty = True
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE article_id = ?", (article_id,))]
        self.postings.remove_chunks(self.conn, ids)  # reads their terms from chunks_fts: before deleting it
        self.conn.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
        self.conn.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        self.conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        self.vectors.remove(ids)

    def commit(self) -> int:
        """Publish everything so far as a new generation: FAISS file first, then the SQLite commit."""
        self.postings.flush(self.conn)  # in this transaction: the generation's postings match its chunks
        generation = self.info.generation + 1
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(generation),))
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'updated_at'", (now(),))
        # exact below ivf.SWITCH_CHUNKS, IVF-SQ8 above (trained, retrained, dropped from the float32 blobs)
        self.vectors = ivf.for_size(self.vectors, rows=lambda: _blob_rows(self.conn, self.info.dim))
        self.vectors.write(_vector_file(self.root, generation))
        faults.point("before-commit")
        self.conn.execute("COMMIT")
        faults.point("after-commit")
        self.info = _info(_read_meta(self.conn), self.root)
        self._clean_up(generation)
        self.conn.execute("BEGIN IMMEDIATE")
        self.dirty = False
        return generation

    def _clean_up(self, generation: int) -> None:
        """Remove what a writer that died left (we hold the lock) and FAISS files older than the generation
        before ``generation`` (that one stays for readers in flight)."""
        for tmp in self.root.glob(".vectors-*.tmp-*"):
            tmp.unlink(missing_ok=True)
        for old in self.root.glob(VECTOR_GLOB):
            try:
                if int(old.stem.split("-")[1]) < generation - 1:
                    old.unlink(missing_ok=True)
            except (IndexError, ValueError):
                continue

    def close(self) -> None:
        """Roll back anything not committed and release the lock."""
        try:
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # e.g. a disk I/O error: closing the connection discards the transaction anyway
            self.conn.close()
        finally:
            self._lock.release()

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
        # a full disk, a read-only folder… reach callers as the OSError they are, like the FAISS write's
        if isinstance(exc, sqlite3.OperationalError) and (err := storage_error(exc, self.root)) is not exc:
            raise err from exc


def stored(root: Path | str) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """(origin_id → (article_id, path), stored article ids), read without the writer lock (``plan()``)."""
    root = Path(root)
    if not exists(root):
        return {}, set()
    conn = _connect(root)
    try:
        origins = {o: (a, p) for o, a, p in conn.execute("SELECT origin_id, article_id, path FROM origins")}
        articles = {r[0] for r in conn.execute("SELECT id FROM articles")}
    except sqlite3.DatabaseError as exc:
        raise IndexInvalid(f"not a readable index catalog at {root}: {exc}: rebuild it with "
                           "`rag index build`") from exc
    finally:
        conn.close()
    return origins, articles


def stored_passages(root: Path | str, identity: str) -> Iterator[tuple[str, str, np.ndarray]]:
    """(title, chunk text, vector) of every chunk of the index folder ``root`` if it was embedded in the space
    ``identity`` (nothing otherwise): `rag eval` lends the vectors of its other evaluation indexes to a new
    one instead of embedding the same passages again. Read-only; the catalog is never written."""
    conn = sqlite3.connect(f"file:{quote(str(catalog_path(root)))}?mode=ro", uri=True)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("identity") != identity:
            return
        for title, text, vec in conn.execute(
                "SELECT a.title, substr(a.text, c.start + 1, c.end - c.start), c.vector "
                "FROM chunks c JOIN articles a ON a.id = c.article_id"):
            yield title, text, np.frombuffer(vec, dtype=np.float32)
    finally:
        conn.close()


class LocalBackend:
    """The default backend (index/backend.py): one index folder, SQLite catalog + FAISS file per generation,
    exactly as before the seam: same files, same behaviour, no migration."""

    name = "local"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Any) -> "LocalBackend":
        return cls(settings.index_dir)

    def exists(self) -> bool:
        return exists(self.root)

    def reader(self) -> Store:
        return Store(self.root)

    def writer(self, embedder_spec: str, identity: str, dim: int, chunking: str, fresh: bool = False,
               first_build: dict[str, Any] | None = None) -> "Writer":
        return Writer(self.root, embedder_spec, identity, dim, chunking, fresh=fresh, first_build=first_build)

    def holder(self) -> str | None:
        return holder(self.root)

    def first_build(self) -> FirstBuild | None:
        return first_build(self.root)

    def stored(self) -> tuple[dict[str, tuple[str, str]], set[str]]:
        return stored(self.root)

    def describe(self) -> str:
        return str(self.root)

    def instance_key(self) -> str:
        """The catalog file's inode: a folder built again from nothing gets a new file."""
        try:
            return str(catalog_path(self.root).stat().st_ino)
        except OSError:
            return ""

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"
