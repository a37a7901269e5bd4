"""Does this sentence answer the question? A learned head over the e5 vectors the answerer already has.

The plain cosine between the question's query vector and a sentence's passage vector measures *topic*: when
the sentence holding the answer is removed from its paragraph, the sentences left are still on topic and
score almost as high, so the refusal cannot tell the two apart. Some e5 dimensions carry more than topic —
what kind of answer is asked, whether the sentence states what the question asks about — and a cosine
averages them away. This head reads them: a logistic regression over

    φ(q, s) = [q ⊙ s, |q − s|, cos(q, s)]        (2 × 384 + 1 numbers, q and s unit vectors)

fitted to tell the sentence holding the gold answer from the other sentences of its paragraph and of its
article's other paragraphs (the hard negatives: exactly what is left when the answer is removed), on every
dev question of XQuAD (ar, en), ARCD and MLQA (ar, en); chosen by cross-validation grouped by paragraphs
(``python bench/answerability_fit.py``, bench/README §9d). It embeds nothing: it costs one small matrix
product over vectors already computed, numpy only, weights loaded lazily from rag/resources (no pickle).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: The shipped weights, in rag/resources (written by bench/answerability_fit.py --write).
RESOURCE = "resources/answerability.json"


def phi(q: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """The head's inputs for one question vector ``q`` (d,) and sentence vectors (n, d): (n, 2d + 1)."""
    q = np.asarray(q, np.float32).reshape(1, -1)
    s = np.asarray(sentences, np.float32).reshape(-1, q.shape[1])
    return np.hstack([q * s, np.abs(q - s), s @ q.T])


@dataclass(frozen=True)
class Head:
    """A logistic regression over standardized φ: log-odds = bias + Σ w · (φ − mean) / scale."""

    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    bias: float
    dim: int

    def logits(self, q: np.ndarray, sentences: np.ndarray) -> np.ndarray:
        """The log-odds that each sentence answers the question (higher: more likely the answer)."""
        if len(sentences) == 0:
            return np.zeros(0, np.float64)
        x = (phi(q, sentences).astype(np.float64) - self.mean) / self.scale
        return x @ self.weights + self.bias

    def to_json(self) -> dict[str, Any]:
        return {"dim": self.dim, "bias": round(float(self.bias), 6),
                "weights": [round(float(w), 6) for w in self.weights],
                "mean": [round(float(m), 7) for m in self.mean],
                "scale": [round(float(s), 7) for s in self.scale]}

    @classmethod
    def from_json(cls, data: Any, source: str = "answerability weights") -> "Head":
        """Check and read the JSON form; a malformed file is a ValueError naming ``source``."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: expected a JSON object with dim, bias, weights, mean and scale")
        missing = [k for k in ("dim", "bias", "weights", "mean", "scale") if k not in data]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}")
        try:
            dim = int(data["dim"])
            arrays = [np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "scale")]
            bias = float(data["bias"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{source}: weights, mean and scale must be lists of numbers ({e})") from None
        n = 2 * dim + 1
        for k, a in zip(("weights", "mean", "scale"), arrays):
            if a.shape != (n,):
                raise ValueError(f"{source}: {k} has shape {a.shape}, expected ({n},) for dim {dim}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"{source}: {k} holds a non-finite number")
        w, m, s = arrays
        s = np.where(np.abs(s) < 1e-12, 1.0, s)
        return cls(w, m, s, bias, dim)


def load(path: Path) -> Head:
    """The head stored at ``path`` (JSON), with a clear error naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read answerability weights ({e})") from None
    return Head.from_json(data.get("head", data) if isinstance(data, dict) else data, str(path))


@lru_cache(maxsize=1)
def shipped() -> Head:
    """The shipped head (loaded once, on the first question that needs it)."""
    return load(Path(str(resources.files("rag").joinpath(RESOURCE))))
