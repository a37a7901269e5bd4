"""FAISS vectors keyed by chunk id: ``IndexIDMap2(IndexFlatIP)`` over L2-normalized rows.

IDMap2 supports add and remove by id and ``reconstruct``; files are written with ``faiss.write_index``
(no pickle) to a temporary name, fsynced, then renamed, so a crash never leaves a half-written file under
the real name.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import faiss
import numpy as np

from . import faults


class VectorIndex:
    """A thin, typed wrapper so the rest of the code never touches FAISS's SWIG surface."""

    def __init__(self, index: faiss.Index) -> None:
        self._index = index

    @classmethod
    def empty(cls, dim: int) -> "VectorIndex":
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def from_rows(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> "VectorIndex":
        out = cls.empty(dim)
        out.add(ids, vectors)
        return out

    @classmethod
    def read(cls, path: Path) -> "VectorIndex":
        return cls(faiss.read_index(str(path)))

    def write(self, path: Path) -> None:
        """Write aside, fsync, rename. FAISS's bytes go through a Python file so a full disk or an I/O error is
        a real OSError (errno and all), not FAISS's RuntimeError; a failed write leaves no temporary file."""
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                faiss.write_index(self._index, faiss.PyCallbackIOWriter(fh.write))
                fh.flush()
                os.fsync(fh.fileno())
            faults.point("vectors-written")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """All chunk ids held, as int64 (order of insertion)."""
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                     np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Iterable[int]) -> int:
        arr = np.fromiter(ids, dtype=np.int64)
        if not len(arr):
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(arr)))

    def reconstruct(self, chunk_id: int) -> np.ndarray:
        return self._index.reconstruct(int(chunk_id))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine); ``allowed`` restricts the search to those ids (filters) exactly."""
        if len(self) == 0 or k <= 0:
            return []
        params = None
        if allowed is not None:
            if not len(allowed):
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.ascontiguousarray(allowed, np.int64)))
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        prev = faiss.omp_get_max_threads()  # one question: one thread (bench/README.md, latency finding)
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(q, min(k, len(self)), params=params)
        finally:
            faiss.omp_set_num_threads(prev)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
