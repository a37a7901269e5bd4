"""The learned query adapter of the dense leg (issue #12, third pass): it loads, it changes only the vector the
dense search is made with (and only when on), and a malformed weights file is a ValueError naming the file.
Real embedder, FAISS and SQLite (the shared seed index)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from rag.config import Settings, load_settings
from rag.pipeline import Pipeline
from rag.query_adapter import for_index, load, shipped
from rag.retrieval import HybridRetriever, Query

QUESTION = "Who is the Kremlin spokesman?"
ARABIC = "من هو المتحدث باسم الكرملين؟"


class _SpySnapshot:
    """The real snapshot, recording the vectors the dense search is called with."""

    def __init__(self, snap: Any, seen: list[np.ndarray]) -> None:
        self._snap, self._seen = snap, seen

    def dense(self, query: np.ndarray, k: int, filters: Any = None) -> list[tuple[int, float]]:
        self._seen.append(np.array(query, copy=True))
        return self._snap.dense(query, k, filters) if filters is not None else self._snap.dense(query, k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._snap, name)


class _SpyReader:
    def __init__(self, store: Any) -> None:
        self._store, self.seen = store, []

    @contextmanager
    def snapshot(self) -> Iterator[_SpySnapshot]:
        with self._store.snapshot() as snap:
            yield _SpySnapshot(snap, self.seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_the_shipped_adapter_loads_as_a_small_square_map() -> None:
    a = shipped()
    assert a.matrix.shape == (385, 384) and a.matrix.dtype == np.float32
    assert np.isfinite(a.matrix).all() and 0 < np.linalg.norm(a.matrix) < 384   # fitted, yet near the identity
    q = np.random.default_rng(0).normal(size=384).astype(np.float32)
    q /= np.linalg.norm(q)
    out = a.adapt(q)
    assert abs(float(np.linalg.norm(out)) - 1.0) < 1e-5 and 0.5 < float(out @ q) < 0.99999


def test_the_adapter_moves_only_the_dense_search_vector(pipeline: Pipeline, embedder: Any) -> None:
    qvec = embedder.embed_query(QUESTION)
    spy_on, spy_off = _SpyReader(pipeline.store), _SpyReader(pipeline.store)
    on = HybridRetriever(spy_on, embedder, adapter=shipped()).run(Query(QUESTION, k=5), qvec)
    off = HybridRetriever(spy_off, embedder).run(Query(QUESTION, k=5), qvec)
    # off: the raw question vector, as before; on: the adapted one, and only for the dense search
    assert len(spy_off.seen) == 1 and np.array_equal(spy_off.seen[0], qvec)
    assert len(spy_on.seen) == 1 and np.allclose(spy_on.seen[0], shipped().adapt(qvec))
    assert not np.allclose(spy_on.seen[0], qvec, atol=1e-3)
    # the answerer keeps the raw vector, and a hit's dense score stays its raw cosine (the refusal reads it)
    assert np.array_equal(on.query_vector, qvec) and np.array_equal(off.query_vector, qvec)
    assert on.terms == off.terms and on.keyword_weight == off.keyword_weight
    assert any(h.dense is not None for h in on.hits)
    with pipeline.store.snapshot() as snap:
        for hit in on.hits:
            if hit.dense is not None:
                assert hit.dense == pytest.approx(float(snap.vector(hit.chunk.id) @ qvec), abs=1e-5)


def test_arabic_questions_keep_the_raw_vector(pipeline: Pipeline, embedder: Any) -> None:
    """Held out, the map cost Arabic questions (XQuAD-ar alone R@5 .992 → .989): they are not adapted."""
    qvec = embedder.embed_query(ARABIC)
    spy = _SpyReader(pipeline.store)
    on = HybridRetriever(spy, embedder, adapter=shipped()).run(Query(ARABIC, k=5), qvec)
    off = HybridRetriever(pipeline.store, embedder).run(Query(ARABIC, k=5), qvec)
    assert np.array_equal(spy.seen[0], qvec)
    assert [(h.chunk.id, h.score, h.dense) for h in on.hits] == [(h.chunk.id, h.score, h.dense) for h in off.hits]


def test_the_setting_turns_it_off(seed_index: Path, embedder: Any) -> None:
    on = Pipeline(Settings(index_dir=seed_index), embedder=embedder)
    off = Pipeline(Settings(index_dir=seed_index, query_adapter=False), embedder=embedder)
    try:
        assert on.retriever.adapter is shipped() and off.retriever.adapter is None
    finally:
        on.close()
        off.close()
    assert load_settings(env={"RAG_QUERY_ADAPTER": "0"}).query_adapter is False
    assert for_index(True, "some-other-model") is None        # fitted in e5-small's space only


@pytest.mark.parametrize("kind", ["not npy", "truncated", "pickled", "vector", "no bias row", "nan", "integers"])
def test_a_malformed_weights_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"adapter-{kind.replace(' ', '-')}.npy"
    if kind == "not npy":
        path.write_text("not weights", encoding="utf-8")
    elif kind == "truncated":
        np.save(path, np.zeros((385, 384), np.float32))
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "vector":
        np.save(path, np.zeros(384, np.float32))
    elif kind == "no bias row":
        np.save(path, np.zeros((384, 384), np.float32))      # no bias row
    elif kind == "nan":
        m = np.zeros((5, 4), np.float32)
        m[1, 2] = np.nan
        np.save(path, m)
    else:
        np.save(path, np.zeros((5, 4), np.int64))
    with pytest.raises(ValueError) as err:
        load(path)
    assert str(path) in str(err.value)
    assert not isinstance(err.value, FileNotFoundError)


def test_a_missing_file_and_a_wrong_dimension_name_the_file(tmp_path: Path, pipeline: Pipeline,
                                                            embedder: Any) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load(tmp_path / "gone.npy")
    path = tmp_path / "small.npy"
    np.save(path, np.vstack([np.eye(8), np.zeros((1, 8))]).astype(np.float32))
    small = load(path)
    with pytest.raises(ValueError, match=str(path)):
        HybridRetriever(pipeline.store, embedder, adapter=small)
    with pytest.raises(ValueError, match="8-dimensional"):
        small.adapt(np.ones(384, np.float32))


def test_the_weights_are_read_lazily() -> None:
    """Importing the retrieval and the pipeline reads no weights: the file is opened for the first question
    (the `rag ask` fast path pays a few ms there, nothing at import)."""
    import subprocess
    import sys

    code = ("import rag.pipeline, rag.retrieval, rag.query_adapter as q; "
            "print(q.shipped.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"


def test_a_broken_shipped_file_stops_the_pipeline_with_its_name(seed_index: Path, embedder: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import retrieval as retrieval_module
    from rag.pipeline import PipelineError

    bad = tmp_path / "query_adapter.npy"
    bad.write_bytes(b"\x93NUMPY garbage")
    monkeypatch.setattr(retrieval_module, "for_index", lambda enabled, identity: load(bad))
    with pytest.raises(PipelineError, match=str(bad)):
        Pipeline(Settings(index_dir=seed_index), embedder=embedder)
