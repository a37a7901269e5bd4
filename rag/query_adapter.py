"""The learned query adapter of the dense leg: q' = normalize(q + q M + b) for English (Latin-script) questions.

Why: an English question over Arabic news is embedded far from the Arabic passage that answers it (cosines
across languages are squeezed together, bench/README §4), so news chunks that merely share its topic outrank
the gold. A linear map fitted contrastively on the dev sets' questions against their gold passages and news
hard negatives (``bench/query_adapter.py``, which reproduces the shipped weights and the leave-one-set-out
table of bench/README §9d) moves the question toward how Arabic passages are embedded: held out by set it
lifts every English run (XQuAD-en among 1,500 ANT articles R@5 .935 → .961, MLQA-en .773 → .813). It is
centred — the bias is -μ M, μ the training questions' mean — because the plain map learned one shift common
to every question (toward the dev sets' Wikipedia paragraphs, away from news), a prior a news archive cannot
use, which cost Arabic questions alone. Arabic questions keep the raw vector (:meth:`QueryAdapter.applies_to`).

Only the retrieval's dense search uses q'; the keyword legs, the answerer's sentence cosines and every score a
hit reports (``Hit.dense``: the raw cosine the refusal model was fitted on) keep the raw vector. The weights
ship as a float32 ``.npy`` in rag/resources ((d + 1) × d, ~0.6 MB), read with ``allow_pickle=False`` when the
first retriever is made (numpy only, a few ms; nothing at import); ``Settings.query_adapter = false``
(``RAG_QUERY_ADAPTER=0``) turns it off.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from index.arabic import script

RESOURCE = "resources/query_adapter.npy"
#: The vector space the shipped weights were fitted in (the bundled engine's, and its sentence-transformers
#: export's); an index made by any other model searches with its raw question vector.
FITTED_FOR = "multilingual-e5-small"


class QueryAdapter:
    """A fitted [M; b] ((d + 1) × d: M then the bias row); :meth:`adapt` maps one question vector. The bias is
    -μ M (μ the training questions' mean), so the map moves a question by how it differs from the typical
    one and adds no shift common to every question (bench/query_adapter.py)."""

    def __init__(self, matrix: np.ndarray, source: str = "<memory>") -> None:
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] + 1 or matrix.shape[1] == 0:
            raise ValueError(f"query adapter {source}: expected a (d + 1) × d array (the map M, then its bias "
                             f"row), got shape {matrix.shape}")
        if not np.issubdtype(matrix.dtype, np.floating):
            raise ValueError(f"query adapter {source}: expected floating-point weights, got {matrix.dtype}")
        if not np.isfinite(matrix).all():
            raise ValueError(f"query adapter {source}: the weights hold NaN or infinite values")
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.source = source

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @staticmethod
    def applies_to(question: str) -> bool:
        """Latin-script questions only (the dictionary leg's rule). Held out (bench/README §9d) the map lifts
        every English run and costs Arabic questions (XQuAD-ar alone R@1 .931 → .924, R@5 .992 → .989;
        MLQA-ar alone R@1 .773 → .756), whose vectors already sit in their passages' language."""
        return script(question) == "latin"

    def adapt(self, vector: np.ndarray) -> np.ndarray:
        """q + q M + b, normalized (cosine search); a vector of another dimension is a ValueError naming the
        file."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim:
            raise ValueError(f"query adapter {self.source}: made for {self.dim}-dimensional vectors, "
                             f"the embedder gives {q.shape[0]}")
        u = q + q @ self.matrix[:-1] + self.matrix[-1]
        n = float(np.linalg.norm(u))
        return (u / n).astype(np.float32) if n > 0 else q


def load(path: Path | str) -> QueryAdapter:
    """Read an adapter ``.npy`` (never pickled objects); anything else is a ValueError naming the file."""
    path = Path(path)
    try:
        matrix = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"query adapter {path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"query adapter {path}: not a readable .npy weights file ({exc})") from None
    if not isinstance(matrix, np.ndarray):
        raise ValueError(f"query adapter {path}: not a single weights array")
    return QueryAdapter(matrix, str(path))


@lru_cache(maxsize=1)
def shipped() -> QueryAdapter:
    """The adapter in rag/resources, read once per process (on the first question, not at import)."""
    return load(Path(str(resources.files("rag").joinpath(RESOURCE))))


def for_index(enabled: bool, identity: str) -> QueryAdapter | None:
    """The adapter an index is searched with: the shipped one when ``Settings.query_adapter`` is on and the
    index's embedder is the one it was fitted for, else None (the raw question vector)."""
    return shipped() if enabled and identity == FITTED_FOR else None
