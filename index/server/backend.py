"""The `server` backend: the catalog in PostgreSQL (index/server/catalog.py), vectors + keyword terms +
filter fields in a Milvus collection (index/server/milvus.py), behind the seam of index/backend.py.

The transactional story is the local one:
- **PostgreSQL is the source of truth** and holds the vectors too; Milvus is the search copy, like the
  local FAISS file. A generation is what one PostgreSQL commit publishes.
- **Write order**: vectors first (Milvus upserts, keyed by the deterministic chunk id
  index.backend.chunk_id, so a retry overwrites instead of duplicating), catalog commit second; readers
  keep only the Milvus hits that have a chunk record in *their* snapshot, so vectors of an uncommitted or
  crashed write are never served. Deletes go the other way: the catalog commit first, the Milvus deletes
  after it.
- **Nothing dangles after a crash**: before any vector is sent to Milvus its id is recorded (autocommit)
  in ``vector_pending``; so are the ids a commit removes. After each commit — and when the next writer
  opens, i.e. after a crash — every pending id without a chunk record is deleted from Milvus, then the
  pending rows are cleared. A fresh rebuild fills a new collection and switches the catalog to it in its
  commit; a rebuild that died leaves a collection the next writer drops.
- **One writer**: a PostgreSQL session advisory lock (released by the server when the writer's connection
  dies), its holder "PID … (since …)" shown to a second writer exactly like the local message.
- **Readers** take one ``REPEATABLE READ READ ONLY`` transaction per snapshot: the catalog rows, the
  keyword postings, the collection statistics and the Milvus collection name all come from one generation.

Where the guarantee differs from local (README, "Operations"): Milvus has no snapshots. A question in flight
while a commit *removes* chunks may miss those chunks in its dense leg (they are deleted right after the
commit); it never sees a chunk of another generation (hits without a record in its snapshot are dropped).
The local FAISS search of a snapshot is exact; Milvus's HNSW is approximate (ef ≥ 128).

Keyword: BM25 is scored from the catalog's postings with the local formula (index/server/bm25.py), so the
keyword ranking is the local one; the pre-analyzed terms also go to Milvus's BM25 function (not used for
ranking: one field, another idf and per-segment statistics in Lite; bench/server_backend.py measures it).
"""
from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .. import faults
from ..backend import (ArticleRecord, ChunkRecord, EmbedderMismatch, Filters, FirstBuild, IndexInfo, IndexInvalid,
                       IndexMissing, NO_FILTERS, OriginRecord, chunk_id)
from ..lock import IndexLocked, locked_message
from ..postings import count_terms, idf as bm25_idf
from ..store import TOP_SOURCES, path_under
from . import bm25, catalog, milvus

#: Vectors buffered by the writer before they are sent to Milvus (bounded memory for a one-transaction build).
SEND_ROWS = 512
#: How many more dense hits than asked for are fetched, so hits without a catalog record can be dropped.
DENSE_MARGIN = 16
#: Catalog meta key naming the Milvus collection of the generation.
COLLECTION = "collection"


def _info(meta: dict[str, str], where: str) -> IndexInfo:
    try:
        if int(meta["schema"]) > catalog.SCHEMA_VERSION:
            raise IndexInvalid(f"the catalog at {where} has schema version {meta['schema']}, this program reads "
                               f"up to {catalog.SCHEMA_VERSION}: upgrade rag-news")
    except (KeyError, ValueError) as exc:
        raise IndexInvalid(f"the catalog at {where} is missing or has a bad setting ({exc}): rebuild it with "
                           "`rag index build`") from exc
    return IndexInfo.from_meta(meta, f"the catalog at {where}")


class ServerBackend:
    """An index whose catalog is the PostgreSQL database ``catalog_dsn`` and whose search copy is in the
    Milvus at ``milvus_uri`` (Milvus Lite server, standalone or Distributed: only the URI changes)."""

    name = "server"

    def __init__(self, catalog_dsn: str, milvus_uri: str) -> None:
        if not catalog_dsn or not str(catalog_dsn).strip():
            raise ValueError("the server backend needs `catalog_dsn` (a PostgreSQL DSN, RAG_CATALOG_DSN)")
        if not milvus_uri or not str(milvus_uri).strip():
            raise ValueError("the server backend needs `milvus_uri` (e.g. http://127.0.0.1:19530, RAG_MILVUS_URI)")
        self.catalog_dsn, self.milvus_uri = str(catalog_dsn), str(milvus_uri)

    @classmethod
    def from_settings(cls, settings: Any) -> "ServerBackend":
        return cls(settings.catalog_dsn, settings.milvus_uri)

    def describe(self) -> str:
        return f"{catalog.redact(self.catalog_dsn)} + {self.milvus_uri}"

    def __repr__(self) -> str:
        return f"ServerBackend({catalog.redact(self.catalog_dsn)!r}, {self.milvus_uri!r})"

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        conn = catalog.connect(self.catalog_dsn, autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

    def exists(self) -> bool:
        with self._conn() as conn:
            return catalog.has_catalog(conn)

    def reader(self) -> "ServerReader":
        return ServerReader(self)

    def writer(self, embedder_spec: str, identity: str, dim: int, chunking: str, fresh: bool = False,
               first_build: dict[str, Any] | None = None) -> "ServerWriter":
        return ServerWriter(self, embedder_spec, identity, dim, chunking, fresh=fresh, first_build=first_build)

    def holder(self) -> str | None:
        with self._conn() as conn:
            return catalog.lock_holder(conn)

    def instance_key(self) -> str:
        """The catalog's id (new for each index created in the database); "" when there is none."""
        with self._conn() as conn:
            return catalog.read_meta(conn).get("catalog_id", "") if catalog.has_catalog(conn) else ""

    def first_build(self) -> FirstBuild | None:
        with self._conn() as conn:
            holder = catalog.lock_holder(conn)
            if not catalog.has_catalog(conn):
                return FirstBuild(holder, 0, None, ()) if holder else None
            note = catalog.first_build_note(catalog.read_meta(conn))
            if note is None:
                return None
            articles = catalog.counts(conn)["articles"]
        total = note.get("total")
        return FirstBuild(holder, int(articles), int(total) if isinstance(total, int) else None,
                          tuple(str(p) for p in note.get("paths") or ()))

    def stored(self) -> tuple[dict[str, tuple[str, str]], set[str]]:
        with self._conn() as conn:
            if not catalog.has_catalog(conn):
                return {}, set()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                return ({o: (a, p) for o, a, p in catalog.origins_all(conn)}, catalog.article_ids(conn))


# -------------------------------------------------------------------------------------------- readers ---
class ServerSnapshot:
    """One generation: a REPEATABLE READ transaction on the catalog + the collection it names."""

    def __init__(self, conn: Any, client: Any, meta: dict[str, str], info: IndexInfo, location: str) -> None:
        self.conn, self.client, self.info, self.location = conn, client, info, location
        self.collection = meta[COLLECTION]
        self.n = int(meta.get("bm25_n", 0))
        self.avgdl = int(meta.get("bm25_length", 0)) / self.n if self.n else 0.0
        self._meta = meta
        self._postings: dict[str, bm25.Postings | None] = {}
        self._vectors: dict[int, np.ndarray] = {}

    # -- keyword -------------------------------------------------------------------------------------
    def _read_postings(self, terms: Sequence[str]) -> list[bm25.Postings]:
        missing = [t for t in dict.fromkeys(terms) if t and t not in self._postings]
        if missing:
            found = catalog.postings_of(self.conn, missing)
            self._postings.update({t: found.get(t) for t in missing})
        return [p for t in dict.fromkeys(terms) if t and (p := self._postings[t]) is not None]

    def keyword(self, terms: Sequence[str], k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        """BM25 as locally; date and source filters before the top-k, ``exclude_articles`` after (Filters)."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or k <= 0:
            return []
        found = self._read_postings(terms)
        scoped = replace(filters, exclude_articles=())
        allowed = None
        if not scoped.empty and found:
            candidates = np.unique(np.concatenate([p[0] for p in found])).tolist()
            allowed = catalog.allowed_among(self.conn, candidates, scoped)
        hits = bm25.top_k(found, self.n, self.avgdl, k, allowed)
        if filters.exclude_articles and hits:
            ok = catalog.allowed_among(self.conn, [i for i, _ in hits], filters, dates_and_sources=False)
            hits = [(i, s) for i, s in hits if i in ok]
        return hits

    def keyword_scores(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms or not ids:
            return {}
        return bm25.scores(self._read_postings(terms), self.n, self.avgdl, ids)

    def known_terms(self, terms: Sequence[str]) -> int:
        return len(self._read_postings(terms))

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        uniq = [t for t in dict.fromkeys(terms) if t]
        self._read_postings(uniq)
        return {t: bm25_idf(self.n, len(p[0])) for t in uniq if (p := self._postings.get(t)) is not None}

    def df(self, term: str) -> int:
        found = self._read_postings([term])
        return len(found[0][0]) if found else 0

    # -- dense ---------------------------------------------------------------------------------------
    def dense(self, query: np.ndarray, k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        """Top-k by inner product from Milvus, keeping only hits this snapshot has a record of (vectors of
        a later or uncommitted write are skipped, and more are fetched until k remain or Milvus has no more)."""
        if k <= 0:
            return []
        expr = milvus.expression(filters)
        limit = k + DENSE_MARGIN
        while True:
            hits = milvus.search(self.client, self.collection, query, limit, expr)
            known = catalog.existing(self.conn, [i for i, _ in hits])
            kept = [(i, s) for i, s in hits if i in known]
            if len(kept) >= k or len(hits) < limit or limit >= 16384:
                break
            limit *= 4
        kept.sort(key=lambda h: (-h[1], known[h[0]]))  # equal scores in insertion order, as locally by rowid
        return kept[:k]

    # -- records -------------------------------------------------------------------------------------
    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        ids = list(dict.fromkeys(int(i) for i in ids))
        if not ids:
            return {}
        rows = catalog.chunk_rows(self.conn, ids)
        origins = self.first_origins([r[1] for r in rows])
        out = {}
        for r in rows:
            self._vectors[r[0]] = np.frombuffer(bytes(r[10]), np.float32)
            out[r[0]] = ChunkRecord(*r[:10], origin=(o.label if (o := origins.get(r[1])) else None))
        return out

    def vector(self, chunk: int) -> np.ndarray:
        vec = self._vectors.get(int(chunk))
        if vec is None:
            blob = catalog.vector_of(self.conn, int(chunk))
            if blob is None:
                raise KeyError(f"no chunk {chunk} in generation {self.info.generation} of {self.location}")
            vec = self._vectors[int(chunk)] = np.frombuffer(blob, np.float32)
        return vec

    def origins_of(self, article_ids: Sequence[str]) -> dict[str, list[OriginRecord]]:
        return catalog.origins_of(self.conn, list(dict.fromkeys(article_ids)))

    def first_origins(self, article_ids: Sequence[str]) -> dict[str, OriginRecord]:
        return {a: o[0] for a, o in self.origins_of(article_ids).items()}

    def find_origins(self, origin_id: str | None = None, path: str | None = None,
                     position: int | None = None) -> list[tuple[str, OriginRecord]]:
        found = []
        for aid, o in catalog.all_origins(self.conn):
            if origin_id is not None:
                ok = o.origin_id == origin_id
            else:
                ok = path in (o.path, o.label.split("#", 1)[0]) and (position is None or o.position == position)
            if ok:
                found.append((aid, o))
        return found

    def article(self, article_id: str) -> ArticleRecord | None:
        return catalog.article(self.conn, article_id)

    def sources(self) -> list[str]:
        return catalog.sources(self.conn)

    def source_stats(self) -> list[dict[str, Any]]:
        return catalog.source_stats(self.conn)

    def filter_counts(self, filters: Filters) -> tuple[int, int]:
        return catalog.filter_counts(self.conn, filters)

    def status(self) -> dict[str, Any]:
        counts = catalog.status_counts(self.conn)
        i = self.info
        return {
            "index": self.location, "articles": counts["articles"], "origins": counts["origins"],
            "chunks": counts["chunks"], "sources": counts["sources"], "date_from": counts["date_from"],
            "date_to": counts["date_to"], "embedder": i.embedder, "embedder_identity": i.identity, "dim": i.dim,
            "chunking": i.chunking, "generation": i.generation, "created_at": i.created_at,
            "last_update": i.updated_at, "size_bytes": counts["size_bytes"],
            "first_build": catalog.first_build_note(self._meta),
            "top_sources": [{"source": r["source"], "articles": r["articles"]}
                            for r in self.source_stats() if r["source"] is not None][:TOP_SOURCES],
        }


class ServerReader:
    """Read access, safe to share between threads: one catalog connection per thread, one Milvus client."""

    def __init__(self, backend: ServerBackend) -> None:
        self.backend = backend
        self._local = threading.local()
        self._conns: list[Any] = []
        self._lock = threading.Lock()
        conn = self._conn()
        try:
            if not catalog.has_catalog(conn):
                raise IndexMissing(f"no index in the catalog database {catalog.redact(backend.catalog_dsn)}")
            self.info = _info(catalog.read_meta(conn), self.location)
        finally:
            conn.rollback()
        self.client = milvus.connect(backend.milvus_uri)

    @property
    def location(self) -> str:
        return self.backend.describe()

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            import psycopg
            conn = catalog.connect(self.backend.catalog_dsn)
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def check_embedder(self, identity: str, dim: int) -> None:
        if identity != self.info.identity or dim != self.info.dim:
            raise EmbedderMismatch.for_reader(str(self.location), self.info, identity, dim)

    @contextmanager
    def snapshot(self) -> Iterator[ServerSnapshot]:
        conn = self._conn()
        try:
            meta = catalog.read_meta(conn)  # the transaction's first read fixes its snapshot
            info = _info(meta, self.location)
            with self._lock:
                self.info = max(self.info, info, key=lambda i: i.generation)
            yield ServerSnapshot(conn, self.client, meta, info, self.location)
        finally:
            conn.rollback()

    def generation_on_disk(self) -> int:
        conn = self._conn()
        try:
            return int(catalog.read_meta(conn).get("generation", -1))
        finally:
            conn.rollback()

    def close(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()
        try:
            self.client.close()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------- writer ---
class ServerWriter:
    """The one writer: holds the advisory lock, sends vectors to Milvus, commits the catalog as a generation."""

    def __init__(self, backend: ServerBackend, embedder_spec: str, identity: str, dim: int, chunking: str,
                 fresh: bool = False, first_build: dict[str, Any] | None = None) -> None:
        self.backend = backend
        self.location = backend.describe()
        self.dirty = False
        self.rechunk = False
        self._buffer: dict[int, dict[str, Any]] = {}   # chunk id → Milvus row not yet sent
        self._removed: set[int] = set()
        self._old_collection: str | None = None
        self._explicit_seq = False
        self.lock_conn = catalog.connect(backend.catalog_dsn, autocommit=True)
        self.conn = None
        try:
            if not catalog.try_lock(self.lock_conn):
                holder = catalog.lock_holder(self.lock_conn) or "another process"
                raise IndexLocked(locked_message(self.location, holder))  # type: ignore[arg-type]
            try:
                self._open(embedder_spec, identity, dim, chunking, fresh, first_build or {})
            except BaseException:
                self._release()
                raise
        except BaseException:
            self.lock_conn.close()
            raise

    def _open(self, embedder_spec: str, identity: str, dim: int, chunking: str, fresh: bool,
              first_build: dict[str, Any]) -> None:
        lc = self.lock_conn
        with lc.transaction():
            catalog.create_schema(lc)
        catalog.record_holder(lc, f"PID {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})")
        self.client = milvus.connect(self.backend.milvus_uri)
        meta = catalog.read_meta(lc)
        if "generation" not in meta:  # a new index: commit its empty catalog first (readers see "being built")
            import json
            uid = uuid.uuid4().hex[:12]
            stamp = catalog.now()
            meta = {"schema": str(catalog.SCHEMA_VERSION), "embedder": embedder_spec, "identity": identity,
                    "dim": str(dim), "chunking": chunking, "generation": "0", "created_at": stamp,
                    "updated_at": stamp, "catalog_id": uid, COLLECTION: f"rag_{uid}_0", "bm25_n": "0",
                    "bm25_length": "0", catalog.FIRST_BUILD: json.dumps(first_build, ensure_ascii=False)}
            milvus.create(self.client, meta[COLLECTION], dim)
            with lc.transaction():
                catalog.set_meta(lc, meta)
            faults.point("catalog-created")
        self._recover(meta)
        self.conn = catalog.connect(self.backend.catalog_dsn)
        info = _info(meta, self.location)
        if not fresh:
            if info.identity != identity or info.dim != dim:
                raise EmbedderMismatch.for_writer(str(self.location), info, identity)
            self.rechunk = info.chunking != chunking
            self.collection = meta[COLLECTION]
        else:  # replace everything in this transaction; the old collection serves readers until the commit
            catalog.clear_all(self.conn)
            self._old_collection = meta[COLLECTION]
            self.collection = f"rag_{meta['catalog_id']}_{uuid.uuid4().hex[:8]}"
            milvus.create(self.client, self.collection, dim)
            stamp = catalog.now()
            catalog.set_meta(self.conn, {"embedder": embedder_spec, "identity": identity, "dim": str(dim),
                                         "created_at": stamp, "updated_at": stamp, COLLECTION: self.collection})
            self.dirty = True
        catalog.set_meta(self.conn, {"chunking": chunking})
        self.info = _info(catalog.read_meta(self.conn), self.location)

    def _recover(self, meta: dict[str, str]) -> None:
        """Undo what a writer that died left in Milvus (we hold the lock): vectors without a chunk record, and
        collections of a rebuild that never committed."""
        current = meta[COLLECTION]
        for name in milvus.names(self.client, f"rag_{meta['catalog_id']}_"):
            if name != current:
                milvus.drop(self.client, name)
        self._resolve(current)

    def _resolve(self, collection: str) -> None:
        """Delete from ``collection`` every pending vector whose chunk the committed catalog does not hold."""
        ids = catalog.pending(self.lock_conn)
        if not ids:
            return
        kept = catalog.existing(self.lock_conn, ids)
        gone = [i for i in ids if i not in kept]
        if gone:
            milvus.delete(self.client, collection, gone)
        catalog.clear_pending(self.lock_conn, ids)

    # -- reads inside the write transaction --------------------------------------------------------
    def origins_under(self, paths: Iterable[Path] | None) -> dict[str, tuple[str, str]]:
        rows = catalog.origins_all(self.conn)
        if paths is None:
            return {o: (a, p) for o, a, p in rows}
        roots = [str(Path(p).resolve()) for p in paths]
        return {o: (a, p) for o, a, p in rows if path_under(p, roots)}

    def origin(self, origin_id: str) -> str | None:
        return catalog.origin_article(self.conn, origin_id)

    def has_article(self, article_id: str) -> bool:
        return catalog.has_article(self.conn, article_id)

    def article_ids(self) -> list[str]:
        return sorted(catalog.article_ids(self.conn))

    def roots(self) -> set[str]:
        return catalog.roots(self.conn)

    def first_build(self) -> dict[str, Any] | None:
        return catalog.first_build_note(catalog.read_meta(self.conn))

    def counts(self) -> dict[str, int]:
        return catalog.counts(self.conn)

    # -- writes ------------------------------------------------------------------------------------
    def note_first_build(self, **values: Any) -> None:
        import json
        note = self.first_build()
        if note is not None:
            note.update(values)
            catalog.set_meta(self.conn, {catalog.FIRST_BUILD: json.dumps(note, ensure_ascii=False)})
            self.dirty = True

    def finish_first_build(self) -> None:
        if self.first_build() is not None:
            catalog.delete_meta(self.conn, catalog.FIRST_BUILD)
            self.dirty = True

    def add_article(self, article_id: str, title: str, text: str, date: str | None, source: str | None,
                    url: str | None, metadata: dict[str, Any], title_terms: str,
                    chunks: Sequence[tuple[int, int, int, int, str]], vectors: np.ndarray,
                    seqs: Sequence[int] | None = None) -> list[int]:
        """Store an article; chunk ids are ``chunk_id(article_id, ordinal)``. ``seqs``: the insertion order to
        record (``rag index migrate`` keeps the local rowids); None takes the catalog's sequence."""
        self.dirty = True
        self._explicit_seq |= seqs is not None
        vectors = np.asarray(vectors, np.float32).reshape(len(chunks), -1) if len(chunks) else vectors
        catalog.insert_article(self.conn, article_id, title, text, date, source, url, metadata)
        rows, postings, ids = [], [], []
        for n, ((ordinal, start, end, n_tokens, body_terms), vec) in enumerate(zip(chunks, vectors)):
            cid = chunk_id(article_id, ordinal)
            tf, length = count_terms(title_terms, body_terms)
            rows.append((cid, None if seqs is None else int(seqs[n]), article_id, ordinal, start, end, n_tokens,
                         title_terms, body_terms, length, np.asarray(vec, np.float32).tobytes()))
            postings.extend((t, cid, f) for t, f in tf.items())
            self._buffer[cid] = milvus.row(cid, vec, date, source, article_id, title_terms, body_terms)
            ids.append(cid)
        catalog.insert_chunks(self.conn, rows, postings)
        if len(self._buffer) >= SEND_ROWS:
            self._send()
        return ids

    def _send(self) -> None:
        """Vectors to Milvus, their ids recorded as pending first (a crash after this leaves nothing dangling)."""
        if not self._buffer:
            return
        ids = list(self._buffer)
        catalog.add_pending(self.lock_conn, ids)
        milvus.upsert(self.client, self.collection, list(self._buffer.values()))
        self._buffer.clear()
        faults.point("vectors-written")

    def set_origin(self, origin_id: str, article_id: str, path: str, position: int,
                   root: str | None = None) -> None:
        self.dirty = True
        catalog.upsert_origin(self.conn, origin_id, article_id, path, position, root)

    def fill_root(self, origin_id: str, root: str | None) -> None:
        if root is not None and catalog.fill_root(self.conn, origin_id, root):
            self.dirty = True

    def remove_origin(self, origin_id: str) -> None:
        self.dirty = True
        catalog.delete_origin(self.conn, origin_id)

    def remove_orphans(self) -> int:
        gone = catalog.orphans(self.conn)
        for article_id in gone:
            self.remove_article(article_id)
        return len(gone)

    def remove_article(self, article_id: str) -> None:
        self.dirty = True
        ids = catalog.chunk_ids_of(self.conn, article_id)
        catalog.delete_article(self.conn, article_id, ids)
        for i in ids:
            self._buffer.pop(i, None)
        self._removed.update(ids)

    def commit(self) -> int:
        """Vectors first, then the catalog commit (the new generation), then the Milvus deletes."""
        self._send()
        catalog.add_pending(self.lock_conn, sorted(self._removed))
        generation = self.info.generation + 1
        if self._explicit_seq:
            catalog.advance_seq(self.conn)
            self._explicit_seq = False
        n, total = catalog.collection_stats(self.conn)
        catalog.set_meta(self.conn, {"generation": str(generation), "updated_at": catalog.now(),
                                     "bm25_n": str(n), "bm25_length": str(total)})
        faults.point("before-commit")
        self.conn.commit()
        faults.point("after-commit")
        self._removed.clear()
        self._resolve(self.collection)
        if self._old_collection is not None:
            milvus.drop(self.client, self._old_collection)
            self._old_collection = None
        milvus.flush(self.client, self.collection)  # Lite: searches are slow until the segment is sealed
        self.info = _info(catalog.read_meta(self.conn), self.location)
        self.conn.commit()
        self.dirty = False
        return generation

    def _release(self) -> None:
        try:
            catalog.unlock(self.lock_conn)
        except Exception:
            pass  # the lock goes with the session anyway

    def close(self) -> None:
        """Roll back anything not committed, take back its vectors, release the lock."""
        try:
            if self.conn is not None and not self.conn.closed:
                try:
                    self.conn.rollback()
                finally:
                    self.conn.close()
            try:
                if self._old_collection is not None:   # a rebuild that did not commit: its collection goes
                    milvus.drop(self.client, self.collection)
                self._resolve(self._old_collection or self.collection)
            except Exception:
                pass  # the next writer resolves what is pending
        finally:
            self._release()
            self.lock_conn.close()
            try:
                self.client.close()
            except Exception:
                pass

    def __enter__(self) -> "ServerWriter":
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.close()
