"""Sentence vectors with a small LRU cache, shared by the extractive answerer and the citation checker.

Both embed sentences of retrieved passages at question time — the only embedding besides the question's —
and a conversation keeps revisiting the same passages, so each sentence is embedded once per process.
Safe to share between threads (the UI's sessions).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from index.embedders import Embedder

#: Sentence vectors kept (384 floats each: ~6 MB).
CACHE_SIZE = 4096


class SentenceVectors:
    def __init__(self, embedder: Embedder, cache_size: int = CACHE_SIZE) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (embedded as passages), one embedder call for those not cached."""
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            found.update((t, np.asarray(v, np.float32)) for t, v in zip(missing, self.embedder.embed_passages(missing)))
        with self._lock:
            for t in dict.fromkeys(texts):
                self._cache[t] = found[t]
                self._cache.move_to_end(t)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.vstack([found[t] for t in texts])
