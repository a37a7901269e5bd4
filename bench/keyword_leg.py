"""The keyword leg alone: numpy BM25 over the postings (index/postings.py) vs FTS5's ``bm25()``, on one index.

Run on a *copy* of an index: an index without postings is migrated first (a Writer opens it, builds them
from chunks_fts and commits), which rewrites the catalog.

    cp -a bench/out/idx-100k /tmp/idx-100k-copy
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m bench.keyword_leg /tmp/idx-100k-copy \
        bench/out/latency-questions.json --n 150

The FAISS side is not what is measured: the migrating commit keeps the copy's vector index as it is (no
conversion to IVF above 50k chunks, which would only add minutes of training).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from index import ivf, postings
from index.arabic import keyword_terms
from index.store import Store, Writer, catalog_path


def catalog_bytes(root: Path) -> int:
    """The catalog's size with its WAL folded in (a checkpoint first), so before and after compare."""
    conn = sqlite3.connect(catalog_path(root))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return catalog_path(root).stat().st_size


def migrate(root: Path) -> dict[str, Any]:
    conn = sqlite3.connect(catalog_path(root))
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    conn.close()
    if postings.present(meta):
        return {"migrated": False}
    timed: dict[str, float] = {}
    build = postings.build

    def timed_build(*args: Any, **kwargs: Any) -> int:
        t = time.perf_counter()
        n = build(*args, **kwargs)
        timed["build_s"] = time.perf_counter() - t
        return n

    postings.build, for_size = timed_build, ivf.for_size
    ivf.for_size = lambda vectors, *a, **k: vectors  # keep the copy's vector index as it is (see above)
    try:
        t = time.perf_counter()
        with Writer(root, meta["embedder"], meta["identity"], int(meta["dim"]), meta.get("chunking", "")) as w:
            opened = time.perf_counter()
            w.commit()
        done = time.perf_counter()
    finally:
        postings.build, ivf.for_size = build, for_size
    return {"migrated": True, "postings_build_s": round(timed["build_s"], 2),
            "writer_open_s (incl. build and loading vectors)": round(opened - t, 2),
            "commit_s (incl. rewriting the FAISS file)": round(done - opened, 2), "total_s": round(done - t, 2)}


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(xs) * 1000, q)), 3)


def time_leg(root: Path, questions: list[str], k: int) -> dict[str, Any]:
    store = Store(root)
    terms = [keyword_terms(q) for q in questions]
    times: dict[str, list[float]] = {"postings": [], "fts5": [], "postings_known": [], "fts5_known": []}
    agree, results, worst = [], {}, 0.0
    with store.snapshot() as snap:  # load the per-generation statistics outside the timing
        assert snap.collection is not None, "no postings: migrate first"
    for rep in range(2):  # the first pass warms the page cache for both; the second is timed
        for q, ts in zip(questions, terms):
            with store.snapshot() as snap:
                coll = snap.collection
                for name, c in (("postings", coll), ("fts5", None)):
                    snap.collection = c
                    t = time.perf_counter()
                    hits = snap.keyword(ts, k)
                    t1 = time.perf_counter()
                    snap.known_terms(ts)
                    t2 = time.perf_counter()
                    if rep:
                        times[name].append(t1 - t)
                        times[name + "_known"].append(t2 - t1)
                        results[name] = hits
            if rep:
                a, b = [i for i, _ in results["postings"][:10]], [i for i, _ in results["fts5"][:10]]
                if b:
                    agree.append(len(set(a) & set(b)) / len(b))
                sa, sb = (np.array([s for _, s in results[n]]) for n in ("postings", "fts5"))
                if len(sa) != len(sb):
                    worst = float("inf")
                elif len(sa):  # the score sequences of the whole top-k (ties may swap ids, not scores)
                    worst = max(worst, float(np.max(np.abs(sa - sb) / np.abs(sb))))
    store.close()
    return {"questions": len(questions), "k": k,
            **{f"{name}_ms": {"p50": pct(xs, 50), "p95": pct(xs, 95)} for name, xs in times.items()},
            "top10_agreement_mean": round(float(np.mean(agree)), 4),
            "top10_identical_sets": sum(x == 1.0 for x in agree), "questions_with_hits": len(agree),
            "topk_max_relative_score_difference": worst}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("questions", type=Path, help="a JSON list of questions")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--k", type=int, default=50, help="candidates per leg (rag's default: 50)")
    args = ap.parse_args()
    questions = json.loads(args.questions.read_text(encoding="utf-8"))[:args.n]
    out: dict[str, Any] = {"catalog_bytes_before": catalog_bytes(args.index)}
    out.update(migrate(args.index))
    out["catalog_bytes_after"] = catalog_bytes(args.index)
    out.update(time_leg(args.index, questions, args.k))
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
