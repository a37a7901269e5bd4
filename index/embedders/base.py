"""The Embedder protocol: what indexing and retrieval need from an embedding model.

Everything model-specific (prefixes, token counting, the length limit) sits behind this protocol so the
chunker can size chunks in the model's own tokens and the index can refuse vectors from another model.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """An embedding model. Vectors are float32 and L2-normalized, so inner product = cosine."""

    #: Recorded in the index; an index refuses vectors whose embedder identity differs.
    identity: str
    dim: int
    #: Hard limit on the tokens of one passage, prefix and special tokens included.
    max_tokens: int

    def count_tokens(self, text: str) -> int:
        """Tokens the model feeds for ``text`` embedded as a passage (prefix and specials included)."""
        ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents: shape (len(texts), dim)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query: shape (dim,)."""
        ...


def as_unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Return float32, C-contiguous, L2-normalized rows (FAISS inner product then equals cosine)."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return out / norms
