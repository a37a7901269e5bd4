"""Hybrid retrieval: dense (FAISS) + keyword (BM25), fused by a language-aware sum of normalized scores.

Why language-aware: an English question over an Arabic archive finds almost nothing by keyword, and a plain
fusion would let that near-empty, near-random keyword list push good dense hits down. The keyword leg is
weighted by how much of the question's vocabulary the archive knows at all (its keyword *coverage*):
an Arabic question over Arabic news gets full weight, an English one over the same news ~0.

Why scores, not ranks: reciprocal rank fusion forgets margins, so a passage far ahead in one leg (BM25 twice
the next one's) loses to passages that are merely good in both. Each leg is normalized on its own candidate
list (cosine min-max, BM25 over its best score) and the two are added. On XQuAD-ar (1,190 questions) this
lifts Arabic R@1 by ~2-3 and MRR@10 by ~2 points, on the XQuAD paragraphs alone and among ANT news alike
(2-fold cross-validated by XQuAD article; the weight 1 was not tuned: 0.7-2 give the same). Every dense
candidate is scored on the keyword leg too, even below the keyword list's cut, so a passage the embedding
ranks first and BM25 ranks 60th keeps its BM25 instead of the leg's floor.

An English question's dense search uses the learned query adapter (``rag.query_adapter``): its vector mapped
toward how Arabic passages are embedded; every other leg, and the cosine each hit reports, keep the raw vector.

Near-duplicates (the same wire story in several papers) are collapsed into one hit that lists every copy,
so the sources shown are distinct stories and the answer can say who else carried it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

import numpy as np

from index.arabic import keyword_terms
from index.embedders import Embedder
from index.backend import ChunkRecord, Filters, Reader, Snapshot

from .bilingual import translated_terms
from .config import Settings
from .query_adapter import QueryAdapter, for_index

#: Weight of the (normalized) keyword leg against the dense leg, before the coverage weight.
KEYWORD_LAMBDA = 1.0


@dataclass(frozen=True)
class Tuning:
    """The fusion's weights (the defaults are the measured ones; ``bench/native_retrieval.py`` sweeps them,
    with the variants that did not earn a place: a title-match bonus and name-spelling variants; bench/README §9).

    ``keyword_lambda``: the keyword leg against the dense leg, before the coverage weight.
    ``translated``: weight of the dictionary leg for Latin-script questions (``rag.bilingual``): BM25 of the
    question words' Arabic translations over the best ``translated_pool`` dense candidates, normalized by
    the best of them; a bonus that reorders what the embedding found, never a source of new passages.
    Weight 0.5: the 2-fold cross-validation by article over all dev sets (alone and among 1,500 ANT
    articles, objective R@5) chose 1.0 and 0.5; 0.5 is within .003–.013 of 1.0's R@5 on every English run
    and well ahead in R@1 and MRR on all four (XQuAD-en R@1 .763 → .829 vs .771; bench/README §9).
    Arabic questions never use it.
    """

    keyword_lambda: float = KEYWORD_LAMBDA
    translated: float = 0.5
    translated_pool: int = 20

    def __post_init__(self) -> None:
        if min(self.keyword_lambda, self.translated) < 0 or self.translated_pool < 1:
            raise ValueError(f"retrieval weights must be non-negative and the pool at least 1: {self}")


TUNING = Tuning()
#: Two passages from different articles with cosine at least this are one story told twice.
DUPLICATE_COSINE = 0.96


@dataclass(frozen=True)
class Query:
    text: str
    k: int = 5
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    candidates: int = 50
    mode: str = "hybrid"                       # hybrid | dense | keyword (the evaluation compares them)
    exclude_articles: tuple[str, ...] = ()     # used by calibration to hide an answer's own article
    include_undated: bool = False              # date filters keep articles that have no date

    def __post_init__(self) -> None:
        if not self.text or not self.text.strip():
            raise ValueError("the question is empty")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if self.mode not in {"hybrid", "dense", "keyword"}:
            raise ValueError(f"unknown retrieval mode {self.mode!r}: hybrid, dense or keyword")

    @property
    def filters(self) -> Filters:
        """The query's restrictions as the value every backend searches with."""
        return Filters(self.since, self.until, tuple(self.sources), self.include_undated,
                       tuple(self.exclude_articles))


@dataclass(frozen=True)
class Hit:
    """A retrieved passage; ``duplicates`` are the same story from other articles, collapsed into it."""

    chunk: ChunkRecord
    score: float
    dense: float | None = None         # cosine with the question
    keyword: float | None = None       # BM25 (higher is better)
    duplicates: tuple[ChunkRecord, ...] = ()

    @property
    def sources(self) -> list[str]:
        seen = [c.source for c in (self.chunk, *self.duplicates) if c.source]
        return list(dict.fromkeys(seen))


@dataclass
class Retrieval:
    query: Query
    hits: list[Hit]
    query_vector: np.ndarray
    terms: list[str]
    keyword_weight: float
    generation: int
    timings: dict[str, float] = field(default_factory=dict)


class Retriever(Protocol):
    def run(self, query: Query, query_vector: np.ndarray | None = None) -> Retrieval: ...


class HybridRetriever:
    """Dense + keyword over one index :class:`~index.backend.Reader` (any backend), each question answered
    from one consistent snapshot."""

    def __init__(self, store: Reader, embedder: Embedder, tuning: Tuning = TUNING,
                 adapter: QueryAdapter | None = None) -> None:
        """``adapter``: the learned query adapter for the dense search (``rag.query_adapter``; None: the raw
        question vector, as before issue #12's third pass)."""
        store.check_embedder(embedder.identity, embedder.dim)
        if adapter is not None and adapter.dim != embedder.dim:
            raise ValueError(f"query adapter {adapter.source}: made for {adapter.dim}-dimensional vectors, "
                             f"the embedder {embedder.identity} gives {embedder.dim}")
        self.store, self.embedder, self.tuning, self.adapter = store, embedder, tuning, adapter

    @classmethod
    def for_settings(cls, store: Reader, embedder: Embedder, settings: Settings) -> "HybridRetriever":
        """The retriever the product searches with under ``settings`` (today: the query adapter when
        ``settings.query_adapter`` is on and fits the embedder) — one place for the pipeline, ``rag eval`` and
        the benches that must measure what ships. A broken adapter weights file is a ValueError naming it."""
        return cls(store, embedder, adapter=for_index(settings.query_adapter, embedder.identity))

    def run(self, query: Query, query_vector: np.ndarray | None = None) -> Retrieval:
        """Retrieve for ``query``; ``query_vector`` reuses an embedding already made for the same text."""
        t0 = time.perf_counter()
        qvec = self.embedder.embed_query(query.text) if query_vector is None else query_vector
        terms = keyword_terms(query.text)
        t1 = time.perf_counter()
        filters = query.filters
        with self.store.snapshot() as snap:
            dense = self._dense(snap, qvec, query, filters) if query.mode != "keyword" else []
            keyword, weight, below = [], 0.0, {}
            if query.mode != "dense" and terms:
                keyword = snap.keyword(terms, query.candidates, filters)
                weight = 1.0 if query.mode == "keyword" else snap.known_terms(terms) / len(set(terms))
                if query.mode == "hybrid" and weight > 0 and keyword:
                    listed = {i for i, _ in keyword}
                    below = snap.keyword_scores(terms, [i for i, _ in dense if i not in listed])
            fused = fuse(dense, keyword, weight if query.mode == "hybrid" else 1.0, below,
                         self.tuning.keyword_lambda)
            if query.mode == "hybrid":
                fused = self._bonuses(snap, query, dense, fused)
            adapted = self.adapter is not None and query.mode != "keyword" and self.adapter.applies_to(query.text)
            hits = _collapse(snap, fused, dict(dense), {**below, **dict(keyword)}, query.k,
                             qvec if adapted else None)
            generation = snap.info.generation
        t2 = time.perf_counter()
        return Retrieval(query, hits, qvec, terms, weight, generation,
                         {"embed_query": t1 - t0, "search": t2 - t1})

    def _dense(self, snap: Snapshot, qvec: np.ndarray, query: Query, filters: Filters) -> list[tuple[int, float]]:
        """The dense list, searched with the adapted vector when an adapter is set and takes the question
        (Latin-script ones: ``QueryAdapter.applies_to``); its cosines are what the fusion's min-max normalizes.
        The raw vector stays the retrieval's ``query_vector``."""
        vec = self.adapter.adapt(qvec) if self.adapter is not None and self.adapter.applies_to(query.text) else qvec
        return snap.dense(vec, query.candidates, filters)

    def _bonuses(self, snap: Snapshot, query: Query, dense: Sequence[tuple[int, float]],
                 fused: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """For Latin-script questions, the dictionary leg, added to the fused scores."""
        t = self.tuning
        bonus: dict[int, float] = {}
        if t.translated > 0 and dense:
            extra = translated_terms(query.text)
            if extra:
                found = snap.keyword_scores(extra, [i for i, _ in dense[: t.translated_pool]])
                top = max(found.values(), default=0.0)
                for cid, s in found.items():
                    bonus[cid] = bonus.get(cid, 0.0) + (t.translated * s / top if top > 0 else 0.0)
        if not bonus:
            return fused
        return sorted(((cid, s + bonus.get(cid, 0.0)) for cid, s in fused), key=lambda kv: -kv[1])


def fuse(dense: Sequence[tuple[int, float]], keyword: Sequence[tuple[int, float]],
         keyword_weight: float, keyword_below: Mapping[int, float] | None = None,
         keyword_lambda: float = KEYWORD_LAMBDA) -> list[tuple[int, float]]:
    """Sum of normalized scores: cosine min-max over the dense list, BM25 divided by the keyword list's best
    (BM25's floor is 0), the keyword leg weighted ``KEYWORD_LAMBDA * keyword_weight``. ``keyword_below`` is the
    BM25 of dense candidates that did not make the keyword list (they score on both legs like the others:
    +0.4 R@5 among the ANT distractors, nothing lost on XQuAD alone); any other passage missing from a list
    gets that leg's floor (0). The dense leg always counts."""
    scores: dict[int, float] = {}
    if dense:
        hi = max(s for _, s in dense)
        lo = min(s for _, s in dense)
        for cid, s in dense:
            scores[cid] = (s - lo) / (hi - lo) if hi > lo else 1.0
    if keyword_weight > 0 and keyword:
        top = max(s for _, s in keyword)
        w = keyword_lambda * keyword_weight
        for cid, s in (*keyword, *(keyword_below or {}).items()):
            scores[cid] = scores.get(cid, 0.0) + (w * s / top if top > 0 else 0.0)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def _collapse(snap: Snapshot, fused: list[tuple[int, float]], dense: dict[int, float],
              keyword: dict[int, float], k: int, raw: np.ndarray | None = None) -> list[Hit]:
    """Take the top fused passages, folding near-duplicates from other articles into the first copy. With
    ``raw`` (the question vector when the dense search used the adapted one) a dense hit's ``dense`` is its
    cosine with the raw vector: what the answerer and the refusal model were fitted on."""
    pool = fused[: max(k * 4, 20)]
    records = snap.chunks([cid for cid, _ in pool])
    kept: list[tuple[Hit, np.ndarray]] = []
    for cid, score in pool:
        rec = records.get(cid)
        if rec is None:
            continue
        vec = snap.vector(cid)
        for i, (hit, hvec) in enumerate(kept):
            if hit.chunk.article_id != rec.article_id and float(vec @ hvec) >= DUPLICATE_COSINE:
                kept[i] = (Hit(hit.chunk, hit.score, hit.dense, hit.keyword, (*hit.duplicates, rec)), hvec)
                break
        else:
            if len(kept) < k:
                cos = dense.get(cid) if raw is None or cid not in dense else float(vec @ raw)
                kept.append((Hit(rec, score, cos, keyword.get(cid)), vec))
    return [h for h, _ in kept]
