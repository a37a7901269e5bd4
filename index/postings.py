"""Keyword postings: the BM25 side of retrieval as per-term blobs in the catalog, scored with numpy.

Why not FTS5's ``bm25()``: FTS5 calls its auxiliary function once per matching row (~2 µs each), so a question
whose terms touch 15,000 postings spends ~30 ms scoring at 100k chunks, while reading those postings costs well
under a millisecond. Here each term's postings are one row (``ids`` int64 ascending, ``tfs`` float32) read by
primary key and scored for all rows at once, with exactly FTS5's formula, so rankings and scores do not change.

Why in the catalog, next to ``chunks_fts``: the postings are written in the writer's transaction, so a crash,
a checkpoint or a reader sees them in step with the chunks of the same generation, at no extra machinery.
``chunks_fts`` stays the record of each chunk's terms (removals read it, the migration rebuilds from it) and
the fallback for an index written before this module existed (readers cannot add the tables; the next writer
does, see :func:`build`).

Terms are the space-separated terms the writer stores in ``chunks_fts`` (``index.arabic.keyword_terms``
joined by spaces). A chunk's length is FTS5's document length: its tokens over both columns, where a number
term with inner separators ("3.5", "1,000") is several FTS5 tokens. Matching differs from FTS5 only around such
terms, on purpose: FTS5 matches the query term "33" inside "33.5" and "3.5" as the phrase "3 5" (so also "3,5");
here a term matches the same whole term only, as ``keyword_terms`` defines terms.
"""
from __future__ import annotations

import math
import sqlite3
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS postings(term TEXT PRIMARY KEY, ids BLOB NOT NULL, tfs BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS chunk_lengths(id INTEGER PRIMARY KEY, length INTEGER NOT NULL)",
)
TABLES = ("postings", "chunk_lengths")
#: Meta key whose value "1" says the postings are complete (an index from before them lacks it).
META_KEY = "postings"

#: The column weights of ``bm25(chunks_fts, 0.5, 1.0)``: a title occurrence counts half a body one.
TITLE_WEIGHT, BODY_WEIGHT = 0.5, 1.0
#: FTS5's fixed BM25 parameters, and the idf it uses instead of a non-positive one (terms in most rows).
K1, B, MIN_IDF = 1.2, 0.75, 1e-6

#: Buffered postings changes (entries) after which the writer applies them early, inside the same
#: transaction: bounds a single-transaction build's memory (~20 bytes an entry) without changing what commits.
FLUSH_ENTRIES = 2_000_000

_IDS, _TFS = np.dtype("<i8"), np.dtype("<f4")


# ------------------------------------------------------------------------------------ encoding ---
def encode(ids: np.ndarray, tfs: np.ndarray) -> tuple[bytes, bytes]:
    """Blobs of one term's postings; little-endian whatever the machine, so a catalog can be copied anywhere."""
    return np.ascontiguousarray(ids, _IDS).tobytes(), np.ascontiguousarray(tfs, _TFS).tobytes()


def decode(ids: bytes, tfs: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The arrays of one term's postings, without copying (read-only views of the blobs)."""
    return np.frombuffer(ids, _IDS), np.frombuffer(tfs, _TFS)


def fts_tokens(terms: str) -> int:
    """How many tokens FTS5's unicode61 tokenizer makes of a space-separated term string: one per term, plus
    one per inner separator of a number term ("1,000.5" is three), the only punctuation a term can hold."""
    return len(terms.split()) + terms.count(".") + terms.count(",")


def count_terms(title_terms: str, body_terms: str) -> tuple[dict[str, float], int]:
    """A chunk's weighted term frequencies (title × 0.5 + body × 1.0, as FTS5 weights its columns) and its
    length in FTS5 tokens over both columns."""
    tf = {t: TITLE_WEIGHT * n for t, n in Counter(title_terms.split()).items()}
    for t, n in Counter(body_terms.split()).items():
        tf[t] = tf.get(t, 0.0) + BODY_WEIGHT * n
    return tf, fts_tokens(title_terms) + fts_tokens(body_terms)


def merge(ids: np.ndarray, tfs: np.ndarray, add_ids: np.ndarray, add_tfs: np.ndarray,
          remove_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One term's postings with ``add`` inserted and ``remove_ids`` taken out, ids ascending.

    Chunk ids are never reused (AUTOINCREMENT), so an id is added at most once and never after its removal;
    removals therefore apply to the stored and the added postings alike, in any order. A duplicate id would
    mean a writer bug and is refused rather than stored."""
    if len(remove_ids):
        keep, keep_add = ~np.isin(ids, remove_ids), ~np.isin(add_ids, remove_ids)
        ids, tfs, add_ids, add_tfs = ids[keep], tfs[keep], add_ids[keep_add], add_tfs[keep_add]
    if not len(add_ids):
        return ids, tfs
    ids, tfs = np.concatenate([ids, add_ids]), np.concatenate([tfs, add_tfs])
    order = np.argsort(ids, kind="stable")  # new ids usually all follow the stored ones: already sorted
    ids, tfs = ids[order], tfs[order]
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        raise ValueError("a chunk id would appear twice in one term's postings")
    return ids, tfs


# ------------------------------------------------------------------------------------- writing ---
class PendingPostings:
    """The postings changes of the open write transaction, buffered per term and applied by :meth:`flush`.

    Why buffer: a chunk touches ~100 terms and a common term's blob holds most chunk ids, so rewriting blobs
    per chunk would be quadratic; once per commit it is one read-merge-write per touched term. Entries are
    kept in flat typed arrays (not a dict per term) so a whole build fits in little memory.
    Chunk lengths are written straight to ``chunk_lengths``: one row per chunk, nothing to merge.
    """

    def __init__(self, flush_entries: int | None = None) -> None:
        self.flush_entries = FLUSH_ENTRIES if flush_entries is None else flush_entries
        self._reset()

    def _reset(self) -> None:
        self._index: dict[str, int] = {}
        self._terms: list[str] = []
        self._add_term, self._add_id, self._add_tf = array("q"), array("q"), array("f")
        self._rem_term, self._rem_id = array("q"), array("q")

    def __len__(self) -> int:
        return len(self._add_id) + len(self._rem_id)

    def _term(self, term: str) -> int:
        i = self._index.get(term)
        if i is None:
            i = self._index[term] = len(self._terms)
            self._terms.append(term)
        return i

    def add_chunk(self, conn: sqlite3.Connection, chunk_id: int, title_terms: str, body_terms: str) -> None:
        """Record a new chunk: its length now, its postings at the next flush."""
        tf, length = count_terms(title_terms, body_terms)
        conn.execute("INSERT INTO chunk_lengths(id, length) VALUES (?, ?)", (chunk_id, length))
        self._add_term.extend(self._term(t) for t in tf)
        self._add_id.extend([chunk_id] * len(tf))
        self._add_tf.extend(tf.values())
        if len(self) >= self.flush_entries:
            self.flush(conn)

    def remove_chunks(self, conn: sqlite3.Connection, chunk_ids: Sequence[int]) -> None:
        """Record removed chunks; call while their ``chunks_fts`` rows still exist (their terms are read there)."""
        for lo in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[lo:lo + 500])
            marks = ",".join("?" * len(part))
            for rowid, title, body in conn.execute(
                    f"SELECT rowid, title, body FROM chunks_fts WHERE rowid IN ({marks})", part).fetchall():
                terms = set(title.split()) | set(body.split())
                self._rem_term.extend(self._term(t) for t in terms)
                self._rem_id.extend([rowid] * len(terms))
            conn.execute(f"DELETE FROM chunk_lengths WHERE id IN ({marks})", part)

    def flush(self, conn: sqlite3.Connection) -> int:
        """Apply the buffered changes to the postings table: per touched term, read its blobs, merge, write them
        back (or delete the row when no chunk has the term any more). Returns the number of terms touched."""
        if not len(self):
            return 0
        add_t, add_i, add_f = (np.frombuffer(a, d) for a, d in
                               ((self._add_term, np.int64), (self._add_id, np.int64), (self._add_tf, np.float32)))
        rem_t, rem_i = np.frombuffer(self._rem_term, np.int64), np.frombuffer(self._rem_id, np.int64)
        a_order, r_order = np.lexsort((add_i, add_t)), np.lexsort((rem_i, rem_t))
        add_t, add_i, add_f = add_t[a_order], add_i[a_order], add_f[a_order]
        rem_t, rem_i = rem_t[r_order], rem_i[r_order]
        touched = np.union1d(add_t, rem_t)
        a_lo, a_hi = np.searchsorted(add_t, touched, "left"), np.searchsorted(add_t, touched, "right")
        r_lo, r_hi = np.searchsorted(rem_t, touched, "left"), np.searchsorted(rem_t, touched, "right")
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float32)
        for t, al, ah, rl, rh in zip(touched.tolist(), a_lo.tolist(), a_hi.tolist(), r_lo.tolist(), r_hi.tolist()):
            term = self._terms[t]
            row = conn.execute("SELECT ids, tfs FROM postings WHERE term = ?", (term,)).fetchone()
            old_i, old_f = decode(*row) if row else (empty_i, empty_f)
            ids, tfs = merge(old_i, old_f, add_i[al:ah], add_f[al:ah], rem_i[rl:rh])
            if len(ids):
                conn.execute("INSERT OR REPLACE INTO postings(term, ids, tfs) VALUES (?, ?, ?)",
                             (term, *encode(ids, tfs)))
            elif row:
                conn.execute("DELETE FROM postings WHERE term = ?", (term,))
        self._reset()
        return len(touched)


def create(conn: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        conn.execute(stmt)


def drop(conn: sqlite3.Connection) -> None:
    for table in TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


def mark_complete(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')", (META_KEY,))


def present(meta: dict[str, str]) -> bool:
    """Whether an index's postings are complete (from its ``meta`` rows)."""
    return meta.get(META_KEY) == "1"


def build(conn: sqlite3.Connection, pending: PendingPostings | None = None, batch: int = 2000) -> int:
    """(Re)build the postings and chunk lengths from ``chunks_fts``, inside the caller's write transaction, and
    mark them complete: the migration of an index written before them. Returns the number of chunks."""
    pending = PendingPostings() if pending is None else pending
    drop(conn)
    create(conn)
    last, n = -1, 0
    while True:  # by rowid ranges, so no cursor stays open across the writes
        rows = conn.execute("SELECT rowid, title, body FROM chunks_fts WHERE rowid > ? ORDER BY rowid LIMIT ?",
                            (last, batch)).fetchall()
        if not rows:
            break
        for rowid, title, body in rows:
            pending.add_chunk(conn, rowid, title, body)
        last, n = rows[-1][0], n + len(rows)
    pending.flush(conn)
    mark_complete(conn)
    return n


# ------------------------------------------------------------------------------------- reading ---
@dataclass(frozen=True)
class Collection:
    """What BM25 needs beyond a term's postings, for one generation: loaded once, shared by its questions."""

    n: int                  # chunks
    avgdl: float            # mean chunk length in FTS5 tokens
    lengths: np.ndarray     # float64 chunk length indexed by chunk id (0 where no chunk)

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> "Collection":
        rows = conn.execute("SELECT id, length FROM chunk_lengths").fetchall()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        lens = np.fromiter((r[1] for r in rows), np.float64, len(rows))
        lengths = np.zeros(int(ids.max()) + 1 if len(ids) else 0, np.float64)
        lengths[ids] = lens
        return cls(len(rows), float(lens.sum()) / len(rows) if rows else 0.0, lengths)


def read(conn: sqlite3.Connection, terms: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The postings (ids, weighted tfs) of those of ``terms`` that occur anywhere, keyed by term; absent terms
    are not keys (their count is the question's keyword coverage)."""
    out = {}
    for term in dict.fromkeys(terms):
        row = conn.execute("SELECT ids, tfs FROM postings WHERE term = ?", (term,)).fetchone()
        if row:
            out[term] = decode(*row)
    return out


def idf(n: int, df: int) -> float:
    """FTS5's idf: log((N − n + 0.5) / (n + 0.5)), and 1e-6 where that is not positive."""
    value = math.log((n - df + 0.5) / (df + 0.5))
    return value if value > 0.0 else MIN_IDF


def _contributions(term_ids: np.ndarray, tfs: np.ndarray, coll: Collection, df: int) -> np.ndarray:
    """One term's BM25 summand for each of the given chunks of its postings (FTS5's formula, float64);
    ``df`` is the length of the term's whole postings, whatever part of them is given."""
    f = tfs.astype(np.float64)
    norm = K1 * (1.0 - B + B * coll.lengths[term_ids] / coll.avgdl)
    return idf(coll.n, df) * (f * (K1 + 1.0)) / (f + norm)


def scores(postings: Sequence[tuple[np.ndarray, np.ndarray]], coll: Collection,
           ids: Sequence[int]) -> dict[int, float]:
    """BM25 (higher = better) of the chunks ``ids`` that contain at least one of the terms; the others are
    left out. Summed term by term in query order, as :func:`top_k` sums, so a chunk scores the same in both (up to
    float rounding: numpy may sum a long run pairwise).

    Why: the hybrid retriever scores every dense candidate on the keyword leg too, not only those that made
    the keyword top-k (a passage the embedding ranks first and BM25 ranks 60th still has its BM25)."""
    want = np.asarray(list(dict.fromkeys(int(i) for i in ids)), np.int64)
    if not len(want) or not postings or coll.n == 0:
        return {}
    total, matched = np.zeros(len(want), np.float64), np.zeros(len(want), bool)
    for term_ids, tfs in postings:
        pos = np.minimum(np.searchsorted(term_ids, want), len(term_ids) - 1)
        hit = term_ids[pos] == want
        if hit.any():
            total[hit] += _contributions(term_ids[pos[hit]], tfs[pos[hit]], coll, len(term_ids))
            matched |= hit
    return {int(i): float(s) for i, s in zip(want[matched], total[matched])}


def top_k(postings: Sequence[tuple[np.ndarray, np.ndarray]], coll: Collection, k: int,
          allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """The ``k`` best chunks by FTS5's BM25 over the query terms' ``postings``, as (chunk id, score) with higher =
    better (FTS5's value negated); ties by ascending id. ``allowed`` (chunk ids) restricts the results, not the
    statistics: idf and length normalisation are over the whole index, as FTS5 computes them under a filter."""
    if k <= 0 or not postings or coll.n == 0:
        return []
    ids = np.concatenate([i for i, _ in postings])
    contrib = np.concatenate([_contributions(term_ids, tfs, coll, len(term_ids)) for term_ids, tfs in postings])
    if allowed is not None:
        mask = np.zeros(len(coll.lengths), bool)
        mask[allowed[(allowed >= 0) & (allowed < len(mask))]] = True
        keep = mask[ids]
        ids, contrib = ids[keep], contrib[keep]
    if not len(ids):
        return []
    order = np.argsort(ids, kind="stable")  # stable: each id's terms stay in query order, summed as FTS5 does
    ids, contrib = ids[order], contrib[order]
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    uniq, scores = ids[starts], np.add.reduceat(contrib, starts)
    if len(uniq) > k:  # everything scoring at least the k-th best, so ties at the cut go by id too
        kth = scores[np.argpartition(-scores, k - 1)[k - 1]]
        near = scores >= kth
        uniq, scores = uniq[near], scores[near]
    order = np.lexsort((uniq, -scores))[:k]
    return [(int(i), float(s)) for i, s in zip(uniq[order], scores[order])]
