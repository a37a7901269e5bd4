"""Scale path (issue item 6): IVF-SQ8 (index/ivf.py) against the exact index at 100,000 chunks.

    .venv/bin/python bench/scale.py              # 100k chunks, all 1,190 XQuAD-ar (+ XQuAD-en) questions
    .venv/bin/python bench/scale.py --smoke      # seconds: 2,000 chunks, one XQuAD article

Whole-retriever figures use an evenly spread 400 of them per language (``--retrieval-limit``).

The 100k-chunk index (``idx-100k``, also used by bench/latency.py) is ``idx-ant<N>-xquad`` (real ANT chunks +
the 240 XQuAD paragraphs) grown with *synthetic* copies of the ANT articles whose vectors are the real ones
plus Gaussian noise, re-normalized (bench/fixtures.py; embedding 100k real chunks would take hours here).
The XQuAD gold paragraphs keep their real vectors, so the question is whether the gold is still found
among ~97k distractors — with the exact index, and with IVF at several ``nprobe``.

Reported: train time, memory (file size) of both kinds; per ``nprobe``: dense search p50/p95 (vector search
only, warm), neighbour recall@10 against the exact index, dense R@5 of the gold paragraph; then, for the
exact index and the default ``nprobe``, the whole hybrid retrieval (``HybridRetriever``, dense and hybrid
modes): R@1, R@5, MRR@10 and the loss in points (goal: R@5 loss < 1 point). Also: exact search time by
archive size (where the switch pays) and removal by id on the IVF index.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Question-time embedding as `rag ask` runs it (rag/cli.py _serving): OpenMP threads sleep, not spin.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from bench import fixtures  # noqa: E402
from bench.common import (FULL_ANT_ARTICLES, finish, latency_summary, loadavg, log,  # noqa: E402
                          out_dir, parser, peak_rss_mb, spread)
from index import ivf  # noqa: E402
from index.store import Store  # noqa: E402
from index.vectors import VectorIndex  # noqa: E402
from rag.retrieval import HybridRetriever, Query  # noqa: E402


def _rank(hits: list[Any], gold: str) -> int | None:
    return next((i for i, h in enumerate(hits)
                 if gold in {h.chunk.article_id, *(d.article_id for d in h.duplicates)}), None)


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    n = max(len(ranks), 1)
    return {"R@1": round(sum(r is not None and r < 1 for r in ranks) / n, 4),
            "R@5": round(sum(r is not None and r < 5 for r in ranks) / n, 4),
            "MRR@10": round(sum(1 / (r + 1) for r in ranks if r is not None and r < 10) / n, 4)}


def retrieval_quality(store: Store, embedder: Any, questions: list[Any]) -> dict[str, Any]:
    """Dense and hybrid modes through the product's retriever, gold paragraph among the top 10."""
    retriever = HybridRetriever(store, embedder)
    ranks: dict[str, list[int | None]] = {"dense": [], "hybrid": []}
    for q in questions:
        qvec = embedder.embed_query(q.question)
        for mode in ranks:
            ranks[mode].append(_rank(retriever.run(Query(q.question, k=10, mode=mode), qvec).hits, q.gold))
    return {mode: _metrics(r) for mode, r in ranks.items()}


def file_bytes(vectors: VectorIndex) -> int:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "v.faiss"
        vectors.write(p)
        return p.stat().st_size


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=FULL_ANT_ARTICLES, help="ANT subset (default: as build.py)")
    p.add_argument("--target", type=int, default=100_000, help="chunks in the scaled index (default 100000)")
    p.add_argument("--nprobe", default="16,32,64,79,128", help="nprobe values to sweep (79 = the default at 100k)")
    p.add_argument("--limit", type=int, default=None, help="questions per language (evenly spread; default all)")
    p.add_argument("--retrieval-limit", type=int, default=400,
                   help="of those, questions per language for the whole-retriever comparison (default 400)")
    args = p.parse_args(argv)
    if args.smoke:
        args.articles, args.target, args.nprobe = 8, 2000, "2,4"
    out = out_dir(args)
    nprobes = [int(x) for x in args.nprobe.split(",")]
    st = fixtures.study(out, args.smoke, args.limit)
    real, qv, embedder, articles, ar, en = st.real, st.queries, st.embedder, st.articles, st.ar, st.en
    base = fixtures.ant_xquad_index(out, args.articles, articles, real)
    t0 = time.perf_counter()
    root = fixtures.synthetic_index(base, out / ("idx-100k" if args.target == 100_000 else f"idx-{args.target}"),
                                    args.target)
    synth_s = time.perf_counter() - t0
    store = Store(root)
    with store.snapshot() as snap:
        exact = snap.vectors
        n = len(exact)
        article_of = dict(snap.conn.execute("SELECT id, article_id FROM chunks"))
        generation = snap.info.generation
    log(f"{root.name}: {n} chunks")
    qvecs = {lang: np.vstack([embedder.embed_query(q.question) for q in qs]) for lang, qs in (("ar", ar), ("en", en))}
    qv.save()
    golds = {"ar": [q.gold for q in ar], "en": [q.gold for q in en]}

    log("training IVF-SQ8 …")
    ids, mat = ivf._flat_rows(exact)
    load_train = loadavg()
    t0 = time.perf_counter()
    approx = ivf.IVFVectorIndex.train(exact.dim, ids, mat)
    train_s = time.perf_counter() - t0
    # searches below run FAISS single-threaded, the proposed serving setting (see bench/README.md, latency)
    import faiss

    faiss.omp_set_num_threads(1)
    default_nprobe = approx.nprobe

    def dense_pass(index: VectorIndex, lang: str, nprobe: int | None = None) -> tuple[list[float], list[list[int]]]:
        times, tops = [], []
        for v in qvecs[lang]:
            t = time.perf_counter()
            res = index.search(v, 50, nprobe=nprobe) if nprobe else index.search(v, 50)
            times.append(time.perf_counter() - t)
            tops.append([i for i, _ in res])
        return times, tops

    def gold_recall(tops: list[list[int]], lang: str, k: int = 5) -> float:
        hit = 0
        for top, gold in zip(tops, golds[lang]):
            seen: list[str] = []
            for cid in top:
                a = article_of.get(cid)
                if a not in seen:
                    seen.append(a)
                if len(seen) >= k:
                    break
            hit += gold in seen
        return round(hit / max(len(tops), 1), 4)

    sweep: dict[str, Any] = {}
    exact_tops = {}
    for lang in ("ar", "en"):
        times, tops = dense_pass(exact, lang)
        exact_tops[lang] = tops
        sweep.setdefault("exact", {})[lang] = {"search": latency_summary(times), "dense_R@5": gold_recall(tops, lang)}
    for probe in nprobes:
        row: dict[str, Any] = {}
        for lang in ("ar", "en"):
            times, tops = dense_pass(approx, lang, probe)
            overlap = np.mean([len(set(a[:10]) & set(b[:10])) / max(min(10, len(b)), 1)
                               for a, b in zip(tops, exact_tops[lang])])
            row[lang] = {"search": latency_summary(times), "neighbour_recall@10": round(float(overlap), 4),
                         "dense_R@5": gold_recall(tops, lang)}
        sweep[f"nprobe={probe}"] = row
        log(f"nprobe={probe}: {row['ar']}")

    # the whole retriever, exact vs IVF at the default nprobe (the store's cached vectors are swapped)
    full: dict[str, Any] = {}
    for name, vectors in (("exact", exact), (f"ivf nprobe={default_nprobe}", approx)):
        store._vectors[generation] = vectors
        for lang, qs in (("ar", spread(ar, args.retrieval_limit)), ("en", spread(en, args.retrieval_limit))):
            log(f"retrieval quality {name} {lang} ({len(qs)} questions) …")
            load0 = loadavg()
            t0 = time.perf_counter()
            full.setdefault(name, {})[lang] = {**retrieval_quality(store, embedder, qs), "load": load0,
                                              "seconds": round(time.perf_counter() - t0, 1)}
    store._vectors[generation] = exact
    loss = {lang: {mode: {m: round((full["exact"][lang][mode][m] - full[f"ivf nprobe={default_nprobe}"][lang][mode][m])
                              * 100, 2) for m in ("R@1", "R@5", "MRR@10")} for mode in ("dense", "hybrid")}
            for lang in ("ar", "en")}

    # exact search time by archive size: where the switch starts to pay
    by_size = {}
    for size in [s for s in (10_000, 25_000, 50_000, 100_000) if s <= n] or [n]:
        sub = VectorIndex.from_rows(exact.dim, ids[:size], mat[:size])
        times = []
        for v in qvecs["ar"][:200]:
            t = time.perf_counter()
            sub.search(v, 50)
            times.append(time.perf_counter() - t)
        by_size[str(size)] = latency_summary(times)
        del sub

    del mat
    # removal by id on the IVF index
    victims = ids[:: max(1, len(ids) // 100)][:100]
    t0 = time.perf_counter()
    removed = approx.remove(victims.tolist())
    remove_s = time.perf_counter() - t0
    left = set(approx.ids().tolist())
    found_after = sum(1 for v in qvecs["ar"][:50] for i, _ in approx.search(v, 50) if i in set(victims.tolist()))
    removal = {"asked": len(victims), "removed": removed, "still_listed": int(sum(v in left for v in victims)),
               "returned_by_search_after": found_after, "seconds": round(remove_s, 4)}

    store.close()
    result = {
        "index": root.name, "chunks": n, "synthetic": f"real ANT + XQuAD chunks, grown with noisy copies "
                                                      f"(σ={fixtures.SYNTHETIC_SIGMA}) to {n}",
        "synthesize_seconds": round(synth_s, 1), "questions": {"ar": len(ar), "en": len(en)},
        "retrieval_questions": {"ar": len(spread(ar, args.retrieval_limit)), "en": len(spread(en, args.retrieval_limit))},
        "ivf": {"kind": "IndexIVFScalarQuantizer QT_8bit, inner product, hash-table direct map",
                "nlist": approx.nlist, "default_nprobe": default_nprobe, "train_seconds": round(train_s, 2),
                "train_load": load_train, "switch_chunks": ivf.SWITCH_CHUNKS},
        "bytes": {"exact": file_bytes(exact), "ivf": file_bytes(approx)},
        "sweep": sweep, "retrieval": full, "loss_points_exact_minus_ivf": loss,
        "goal_R@5_loss_under_1_point": all(abs(loss[lang]["hybrid"]["R@5"]) < 1 for lang in loss),
        "exact_search_by_size": by_size, "removal": removal, "peak_rss_mb": peak_rss_mb(),
    }
    return finish("scale", result, args)


if __name__ == "__main__":
    main()
