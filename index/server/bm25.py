"""BM25 over the catalog's postings rows, with exactly the local formula (index/postings.py: FTS5's BM25,
column weights title 0.5 / body 1.0, k1 1.2, b 0.75, idf floor 1e-6) and statistics over the whole index.

Why not Milvus's BM25 function: it scores one text field (no title weight), uses another idf
(log(1 + (N − n + 0.5)/(n + 0.5))) and, in Milvus Lite, per-segment statistics — so its keyword ranking is
not the local one (bench/server_backend.py measures how far). Scoring from PostgreSQL gives the local
ranking and scores by construction, inside the reader's REPEATABLE READ snapshot.

Here each term's postings carry their chunks' lengths (joined from ``chunks``), so no per-chunk array
indexed by id is needed (server chunk ids are 64-bit hashes). Ties break by ``seq`` (insertion order, the
local rowid order), so even equal scores come back in the local order.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..postings import B, K1, idf

#: One term's postings: (chunk ids ascending, weighted tfs, chunk lengths, seqs).
Postings = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def contributions(p: Postings, n: int, avgdl: float) -> np.ndarray:
    """The term's BM25 summand for each chunk of its postings (float64), as index.postings computes it."""
    _ids, tfs, lengths, _seqs = p
    f = tfs.astype(np.float64)
    norm = K1 * (1.0 - B + B * lengths / avgdl)
    return idf(n, len(p[0])) * (f * (K1 + 1.0)) / (f + norm)


def summed(postings: Sequence[Postings], n: int, avgdl: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, scores, seqs) of every chunk holding at least one term, summed term by term in query order."""
    if not postings or n == 0:
        empty = np.zeros(0, np.int64)
        return empty, np.zeros(0, np.float64), empty
    ids = np.unique(np.concatenate([p[0] for p in postings]))
    total = np.zeros(len(ids), np.float64)
    seqs = np.zeros(len(ids), np.int64)
    for p in postings:
        pos = np.searchsorted(ids, p[0])
        total[pos] += contributions(p, n, avgdl)
        seqs[pos] = p[3]
    return ids, total, seqs


def top_k(postings: Sequence[Postings], n: int, avgdl: float, k: int,
          allowed: set[int] | None = None) -> list[tuple[int, float]]:
    """The ``k`` best (chunk id, BM25), higher = better, ties by insertion order; ``allowed`` restricts the
    results, not the statistics (as FTS5 and the local postings do under a filter)."""
    ids, scores, seqs = summed(postings, n, avgdl)
    if allowed is not None:
        keep = np.isin(ids, np.fromiter(allowed, np.int64, len(allowed)))
        ids, scores, seqs = ids[keep], scores[keep], seqs[keep]
    if k <= 0 or not len(ids):
        return []
    order = np.lexsort((seqs, -scores))[:k]
    return [(int(i), float(s)) for i, s in zip(ids[order], scores[order])]


def scores(postings: Sequence[Postings], n: int, avgdl: float, ids: Sequence[int]) -> dict[int, float]:
    """BM25 of those chunks ``ids`` that hold at least one of the terms."""
    found, total, _seqs = summed(postings, n, avgdl)
    want = {int(i) for i in ids}
    return {int(i): float(s) for i, s in zip(found, total) if int(i) in want}
