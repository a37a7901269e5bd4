"""Quality at scale (issue item 4): XQuAD-ar questions with the ANT articles as distractors.

    .venv/bin/python bench/quality.py            # all 1,190 questions, Arabic and English, two indexes
    .venv/bin/python bench/quality.py --smoke    # seconds: one XQuAD article, 8 ANT articles

The same questions are asked (with ``rag.evaluate.evaluate``: keyword, dense and hybrid, no answerer) of
(a) the 240 XQuAD paragraphs alone and (b) the same paragraphs inside the ANT index (``idx-ant<N>-xquad``);
a hit is the gold paragraph among the top k. The goal: R@5 and MRR@10 of (b) within 1 point of (a).
Question vectors are embedded once and reused by every run (bench/out/query-vectors.npz); the paragraph
vectors in (b) are those of (a) (same engine, same text).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Question-time embedding as `rag ask` runs it (rag/cli.py _serving): OpenMP threads sleep, not spin.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench import fixtures  # noqa: E402
from bench.common import FULL_ANT_ARTICLES, CachedEmbedder, finish, loadavg, log, out_dir, parser  # noqa: E402
from index.store import Store  # noqa: E402
from rag.evaluate import MODES, evaluate  # noqa: E402
from rag.retrieval import HybridRetriever  # noqa: E402


def run_eval(root: Path, embedder: CachedEmbedder, questions: list[Any]) -> dict[str, Any]:
    store = Store(root)
    try:
        with store.snapshot() as snap:
            chunks = snap.status()["chunks"]
        load0 = loadavg()
        res = evaluate(HybridRetriever(store, embedder), None, questions)
        res.update({"index": root.name, "chunks": chunks, "load": load0})
        return res
    finally:
        store.close()


def points(a: float, b: float) -> float:
    return round((b - a) * 100, 2)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=FULL_ANT_ARTICLES, help="ANT subset (default: as build.py)")
    p.add_argument("--limit", type=int, default=None, help="ask an evenly spread sample of this many questions")
    args = p.parse_args(argv)
    if args.smoke:
        args.articles = 8
    out = out_dir(args)
    st = fixtures.study(out, args.smoke, args.limit)
    real, qv, embedder, articles, ar, en = st.real, st.queries, st.embedder, st.articles, st.ar, st.en
    xq = fixtures.xquad_index(out, articles, real)
    mixed = fixtures.ant_xquad_index(out, args.articles, articles, real)
    runs: dict[str, Any] = {}
    for lang, questions in (("ar", ar), ("en", en)):
        for name, root in (("xquad", xq), ("ant+xquad", mixed)):
            log(f"{lang} questions × {name} ({len(questions)}) …")
            runs[f"{lang}/{name}"] = run_eval(root, embedder, questions)
            qv.save()
    deltas: dict[str, Any] = {}
    for lang in ("ar", "en"):
        a, b = runs[f"{lang}/xquad"], runs[f"{lang}/ant+xquad"]
        deltas[lang] = {m: {"R@5_points": points(a[m]["R@5"], b[m]["R@5"]),
                            "MRR@10_points": points(a[m]["MRR@10"], b[m]["MRR@10"])} for m in MODES}
        h = deltas[lang]["hybrid"]
        deltas[lang]["hybrid_within_1_point"] = abs(h["R@5_points"]) <= 1 and abs(h["MRR@10_points"]) <= 1
    result = {"ant_articles": args.articles, "questions": len(ar), "runs": runs, "deltas": deltas,
              "reference_xquad_only_from_issue": {"ar_hybrid": {"R@1": 0.901, "R@5": 0.983, "MRR@10": 0.938},
                                                  "en_hybrid": {"R@5": 0.955}}}
    return finish("quality", result, args)


if __name__ == "__main__":
    main()
