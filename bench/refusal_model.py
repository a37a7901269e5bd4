"""Fit the extractive answerer's refusal model (rag/answer/refusal.py) on the features bench/refusal_collect.py
stored, choose its feature set and regularization by leave-one-set-out cross-validation, and report the
refusal trade-off per set and pooled — against the shipped evidence formula under the same protocol.

Protocol, per script ("same": Arabic questions over Arabic passages; "cross": English questions): for each
dev set held out, fit on the others (answerable = intact questions, label 1; answer-removed, label 0), take
ONE threshold from the training sets (the highest refusing at most 10 % of every training set's answerable
questions), and measure on the held-out set: answerable refused, answer-removed refused, answer ⊇ gold. A
setting is judged by its worst held-out set. The shipped model is then fitted on all sets, and its
per-script threshold is the highest one refusing at most 10 % of the answerable questions of every set.

    .venv/bin/python bench/refusal_model.py [--features bench/out/refusal_features.json] [--write]
"""
from __future__ import annotations

import argparse
import itertools
import shlex
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.answer import extractive as X  # noqa: E402
from rag.answer.refusal import FEATURE_NAMES, RULES, Model, evidence, features  # noqa: E402

DISTRACTORS = "+articles1500"
BUDGET = 0.10


# ------------------------------------------------------------------------------------------- replay --
@dataclass
class _Hit:
    dense: float


@dataclass
class _Cand:
    """A stored candidate sentence, read as the answerer's _Candidate."""

    cosine: float
    lexical: float
    lexical_weight: float
    _dense: float
    hit_rank: int
    holds: bool
    typed: float
    terms: set[str]
    text: str
    spans: list[tuple[int, int]]
    gold: bool
    answerable: float = 0.0

    @property
    def dense(self) -> float:
        return self._dense

    @property
    def score(self) -> float:
        return (self.cosine + self.lexical_weight * self.lexical + X.PASSAGE_WEIGHT * self._dense
                - X.RANK_PENALTY * self.hit_rank + self.typed)


@dataclass
class _Scored:
    candidates: list[_Cand]
    kind: str
    missing_share: float
    kind_found: bool
    named_missing: list[str]
    cross: bool
    idf: dict[str, float]
    hit_terms: list[set[str]]
    title_terms: set[str]
    missing: list[str] = field(default_factory=list)

    evidence = X.Scored.heuristic   # the hand-set formula, for the baseline


def _answerable(c: dict[str, Any], head: str | None) -> float:
    """A stored candidate's answerability log-odds: the shipped head's, or (``head``) the one fitted without
    that fold (bench/answerability_fit.py), so that a held-out set's features come from a head it did not train."""
    if head is None:
        return c.get("answerable", 0.0)
    return c["answerable_folds"][head]


def load_scored(d: dict[str, Any], head: str | None = None) -> _Scored:
    cands = [_Cand(c["cosine"], c["lexical"], c["lexical_weight"], c["dense"], c["hit_rank"], c["holds"], c["typed"],
                   set(c["terms"]), c["text"], [tuple(s) for s in c["spans"]], c["gold"], _answerable(c, head))
             for c in d["cands"]]
    return _Scored(cands, d["kind"], d["missing_share"], d["kind_found"], d["named_missing"], d["cross"],
                   d["idf"], [set(t) for t in d["hit_terms"]], set(d["title_terms"]), list(d["named_missing"]))


def contains_gold(s: _Scored) -> bool:
    """Whether the answer (as ExtractiveAnswerer.stream picks it) quotes the gold span."""
    c = s.candidates
    if not c:
        return False
    top = c[0].score
    chosen = [x for x in c[:9] if x.score >= top - X.JOIN_MARGIN][:3]
    return any(x.gold for x in chosen)


@dataclass
class Row:
    run: str
    qid: str
    cross: bool
    label: int           # 1 answerable (intact), 0 answer-removed
    feats: dict[str, float] | None     # None: no candidate at all (always refused)
    baseline: float
    gold: bool           # intact: the answer would quote the gold span
    in_context: bool = True   # intact: some candidate sentence holds the gold span (else not answerable here)


def load_rows(path: Path, head: str | None = None) -> list[Row]:
    data = json.loads(path.read_text())
    rows = []
    for run, qs in data.items():
        for qid, q in qs.items():
            for cond, label in (("intact", 1), ("removed", 0)):
                if cond not in q:
                    continue
                s = load_scored(q[cond], head)
                f = features(s) if s.candidates else None
                rows.append(Row(run, qid, s.cross, label, f, s.evidence if s.candidates else -9.0,
                                label == 1 and contains_gold(s), label == 0 or any(c.gold for c in s.candidates)))
    return rows


# ---------------------------------------------------------------------------------------------- fit --
def fit(X_: np.ndarray, y: np.ndarray, l2: float, weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularized logistic regression by Newton's method (standardized inputs; bias not penalized)."""
    n, d = X_.shape
    A = np.hstack([X_, np.ones((n, 1))])
    w = np.zeros(d + 1)
    sw = np.ones(n) if weights is None else weights
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(A @ w)))
        g = A.T @ (sw * (p - y)) + reg * w
        H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


#: Which answerable questions the model learns from: "all" intact ones, or only those whose answer quotes
#: the gold span ("gold": the others, answered with a wrong sentence, are what a refusal may rightly catch,
#: and learning them as answerable trades answers that hold the gold span for ones that do not).
POSITIVES = {"same": "all", "cross": "gold"}
#: The thresholds shipped before the refusal model (hand-set evidence, pooled 10 % rule): the baseline whose
#: answer ⊇ gold the chosen threshold must keep on every set (within GOLD_TOLERANCE: one question in ~150).
BEFORE = {"same": 1.2481, "cross": 1.1453}
GOLD_TOLERANCE = 0.01


def fit_model(rows: list[Row], names: tuple[str, ...], l2: float, positives: str | None = None) -> Model:
    # the rules' questions are refused whatever the model says: they would only blur its fit
    usable = [r for r in rows if r.feats is not None and not (r.feats["named_missing"] or
                                                               (not r.cross and r.feats["kind_missing"]))
              and ((positives or _positives(rows)) == "all" or r.label == 0 or r.gold)]
    # each run weighs the same, and within it both classes the same: no set or class dominates the fit
    counts: dict[tuple[str, int], int] = {}
    for r in usable:
        counts[(r.run, r.label)] = counts.get((r.run, r.label), 0) + 1
    # a run with a handful of rows of this script (English questions whose passages came out in Latin script)
    # would weigh as much as a whole set: it stays out of the fit
    usable = [r for r in usable if min(counts.get((r.run, y), 0) for y in (0, 1)) >= MIN_RUN]
    M = np.array([[r.feats[n] for n in names] for r in usable])
    y = np.array([r.label for r in usable], float)
    mean, scale = M.mean(0), M.std(0)
    scale[scale < 1e-9] = 1.0
    sw = np.array([1.0 / counts[(r.run, r.label)] for r in usable])
    sw *= len(usable) / sw.sum()
    w, b = fit((M - mean) / scale, y, l2, sw)
    return Model(names, tuple(w), tuple(mean), tuple(scale), b)


def _positives(rows: list[Row]) -> str:
    return POSITIVES["cross" if rows and rows[0].cross else "same"]


def scores(rows: list[Row], model: Model | None) -> np.ndarray:
    """Each row's evidence as the answerer computes it (the model's log-odds minus the rules), or the
    hand-set formula's with ``model=None``."""
    if model is None:
        return np.array([r.baseline for r in rows])
    return np.array([evidence(r.feats, r.cross, {"same": model, "cross": model}) if r.feats is not None
                     else X.NO_EVIDENCE for r in rows])


#: A run with fewer questions of a script than this (an English question whose passages came out in Latin
#: script, …) is never held out nor given a threshold of its own; its rows stay in every training fold.
MIN_RUN = 10


def threshold(rows: list[Row], s: np.ndarray, budget: float = BUDGET, rule: str = "every") -> float:
    """The highest threshold refusing at most ``budget`` of the answerable questions of every run ("every")
    or of all runs pooled ("pooled")."""
    pos = [(r.run, v) for r, v in zip(rows, s) if r.label == 1]
    groups: dict[str, list[float]] = {}
    for run, v in pos:
        groups.setdefault(run if rule == "every" else "all", []).append(v)
    if rule == "every":
        groups = {k: v for k, v in groups.items() if len(v) >= MIN_RUN} or {"all": [v for _, v in pos]}
    cands = []
    for vals in groups.values():
        v = np.sort(vals)
        k = int(np.floor(budget * len(v) + 1e-9))
        cands.append(v[k] if k < len(v) else v[-1] + 1e-6)
    return float(min(cands))


def guarded_threshold(rows: list[Row], s: np.ndarray, baseline: np.ndarray, before: float) -> float:
    """The highest threshold refusing at most BUDGET of every run's answerable questions whose answer ⊇ gold
    is, on every run, at least the one the hand-set evidence gives at the ``before`` threshold (less
    GOLD_TOLERANCE): raising the refusal must not cost answers that held the gold span."""
    top = threshold(rows, s)
    runs = [run for run in {r.run for r in rows} if sum(1 for r in rows if r.run == run and r.label == 1) >= MIN_RUN]
    want = {run: rates([r for r in rows if r.run == run], baseline[[r.run == run for r in rows]], before)
            ["contains_gold"] for run in runs}
    for th in sorted({float(v) for v in s if v <= top} | {top}, reverse=True):
        if all(rates([r for r in rows if r.run == run], s[[r.run == run for r in rows]], th)["contains_gold"]
               >= want[run] - GOLD_TOLERANCE for run in runs):
            return th
    return float(min(s))


def rates(rows: list[Row], s: np.ndarray, th: float) -> dict[str, Any]:
    pos = [(r, v) for r, v in zip(rows, s) if r.label == 1]
    neg = [v for r, v in zip(rows, s) if r.label == 0]
    return {"answerable": len(pos), "removed": len(neg),
            "refused_answerable": round(float(np.mean([v < th for _, v in pos])), 3) if pos else None,
            "refused_removed": round(float(np.mean([v < th for v in neg])), 3) if neg else None,
            "contains_gold": round(float(np.mean([r.gold and v >= th for r, v in pos])), 3) if pos else None}


def loso(rows: list[Row], names: tuple[str, ...] | None, l2: float, rule: str = "every",
         threshold_on: str = "all") -> dict[str, Any]:
    """Leave one run out (a run and its parallel-language twin are different scripts, so never together): the
    weights are fitted without the held-out run; the one threshold is chosen on every run together
    (``threshold_on="all"``, as the shipped one is: weights out of sample, threshold as shipped) or on the
    training runs only (``"train"``: the strict reading)."""
    runs = sorted(r for r in {r.run for r in rows}
                  if min(sum(1 for x in rows if x.run == r and x.label == y) for y in (0, 1)) >= MIN_RUN)
    out = {}
    for held in runs:
        # a set and its run among distractors share their questions: both leave the training folds
        train = [r for r in rows if _set(r.run) != _set(held)]
        test = [r for r in rows if r.run == held]
        model = fit_model(train, names, l2) if names is not None else None
        on = train if threshold_on == "train" else rows
        th = threshold(on, scores(on, model), rule=rule)
        out[held] = rates(test, scores(test, model), th)
    return out


def _set(run: str) -> str:
    return run.split("+")[0]


def loso_fold_heads(path: Path, cross: bool, names: tuple[str, ...], l2: float, distractor_runs: bool,
                    threshold_on: str = "all") -> dict[str, Any]:
    """Leave one set out with the answerability features of each held-out set taken from the head fitted
    without its fold (bench/answerability_fit.py writes one per fold; refusal_collect.py stores their log-odds):
    the held-out set trained neither the refusal model nor the head it reads."""
    from bench.answerability_fit import FOLDS

    out: dict[str, Any] = {}
    for fold in sorted(set(FOLDS.values())):
        rows = [r for r in load_rows(path, fold) if r.cross == cross and (distractor_runs or DISTRACTORS not in r.run)]
        res = loso(rows, names, l2, threshold_on=threshold_on)
        out.update({run: v for run, v in res.items() if FOLDS.get(_set(run)) == fold})
    return dict(sorted(out.items()))


def curve(rows: list[Row], s: np.ndarray) -> list[tuple[float, float]]:
    """(answerable refused, answer-removed refused) at budgets 2–30 %, pooled."""
    out = []
    for b in (0.02, 0.05, 0.10, 0.15, 0.20, 0.30):
        th = threshold(rows, s, b, rule="pooled")
        r = rates(rows, s, th)
        out.append((b, r["refused_answerable"], r["refused_removed"]))
    return out


def summary(res: dict[str, Any]) -> tuple[float, float, float]:
    worst = min(v["refused_removed"] for v in res.values())
    mean = float(np.mean([v["refused_removed"] for v in res.values()]))
    over = max(v["refused_answerable"] for v in res.values())
    return worst, mean, over


def search(rows: list[Row], kind: str) -> list[dict[str, Any]]:
    """Feature sets × L2, judged by leave-one-set-out (worst held-out set's removed refusal, then mean)."""
    base = ("score", "missing")
    extra = [n for n in FEATURE_NAMES if n not in base and n not in RULES]
    sets = [("score",), base, base + tuple(extra)]
    sets += [base + (e,) for e in extra]
    results = []
    for names, l2 in itertools.product(sets, (0.1, 1.0, 10.0)):
        res = loso(rows, names, l2)
        worst, mean, over = summary(res)
        results.append({"features": names, "l2": l2, "worst": round(worst, 3), "mean": round(mean, 3),
                        "max_refused_answerable": over, "per_set": res})
    # greedy forward selection from the base set
    chosen, best = list(base), None
    for _ in range(len(extra)):
        trials = []
        for e in extra:
            if e in chosen:
                continue
            res = loso(rows, tuple(chosen + [e]), 1.0)
            w, m, o = summary(res)
            trials.append((w + m, e, res))
        if not trials:
            break
        val, e, res = max(trials)
        if best is not None and val <= best + 1e-9:
            break
        best = val
        chosen.append(e)
        w, m, o = summary(res)
        results.append({"features": tuple(chosen), "l2": 1.0, "worst": round(w, 3), "mean": round(m, 3),
                        "max_refused_answerable": o, "per_set": res, "greedy": True})
    # a setting that answers fewer questions with the gold span than the hand-set evidence on some held-out
    # set (beyond GOLD_TOLERANCE) is not a gain, however much more it refuses
    base = loso(rows, None, 0.0)
    # — nor one that refuses fewer answer-removed questions than it on some held-out set
    for r in results:
        r["keeps_gold"] = all(r["per_set"][run]["contains_gold"] >= base[run]["contains_gold"] - GOLD_TOLERANCE
                              for run in base)
        r["no_set_worse"] = all(r["per_set"][run]["refused_removed"] >= base[run]["refused_removed"] - GOLD_TOLERANCE
                                for run in base)
    results.sort(key=lambda r: (not (r["keeps_gold"] and r["no_set_worse"]), -(r["worst"] + r["mean"])))
    return results


def probe_report(rows: list[Row], features_path: Path, probes_path: Path) -> None:
    """Leave-one-set-out with the e5 probes of bench/refusal_probes.py added to the features (same-script
    runs without distractors, the questions the probes were computed for)."""
    data = json.loads(features_path.read_text())
    probes = json.loads(probes_path.read_text())
    keep = []
    for r in rows:
        cond = "intact" if r.label == 1 else "removed"
        p = probes.get(r.run, {}).get(r.qid, {}).get(cond)
        if r.cross or r.feats is None or not p or DISTRACTORS in r.run:
            continue
        best = data[r.run][r.qid][cond]["cands"][0]
        r.feats = {**r.feats, "query_cosine": p[0]["query_cosine"],
                   "query_cosine_max": max(x["query_cosine"] for x in p),
                   "query_minus_cosine": p[0]["query_cosine"] - best["cosine"],
                   "span_drop": (p[0]["without_span"] - best["cosine"]) if p[0]["without_span"] is not None else 0.0,
                   "has_span": float(p[0]["without_span"] is not None)}
        keep.append(r)
    base = tuple(n for n in FEATURE_NAMES if n not in RULES)
    shipped = tuple(json.loads(Path(str(__import__("importlib").resources.files("rag").joinpath(
        "resources/refusal_model.json"))).read_text())["models"]["same"]["features"])
    for names in (("cosine",), ("query_cosine",), shipped, shipped + ("query_cosine",),
                  shipped + ("span_drop", "has_span"), base, base + ("query_cosine",),
                  base + ("query_cosine", "query_cosine_max", "query_minus_cosine"), base + ("span_drop", "has_span")):
        res = loso(keep, names, 1.0)
        worst, mean, _ = summary(res)
        shown = names if names[:len(base)] != base else ("all features",) + names[len(base):]
        print(f"  {worst:.3f} worst / {mean:.3f} mean: {', '.join(shown)}  "
              f"{ {k: v['refused_removed'] for k, v in res.items()} }")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", type=Path, default=Path("bench/out/refusal_features.json"))
    ap.add_argument("--distractor-runs", action="store_true", help="also fit/evaluate on the +1500 runs")
    ap.add_argument("--write", action="store_true", help="ship the chosen models and thresholds in rag/resources")
    ap.add_argument("--use", help="JSON {\"same\": [features], \"cross\": [...], \"l2\": x} instead of the search")
    ap.add_argument("--probes", type=Path, help="only report the e5 probes' effect (bench/refusal_probes.py output)")
    ap.add_argument("--fold-heads", action="store_true",
                    help="also report leave-one-set-out with each held-out set's answerability features from the head "
                         "fitted without it (needs refusal_collect.py run with bench/answerability_fit.py's fold heads)")
    args = ap.parse_args()
    rows = load_rows(args.features)
    if args.probes:
        probe_report(rows, args.features, args.probes)
        return
    main_rows = [r for r in rows if DISTRACTORS not in r.run]
    dis_rows = [r for r in rows if DISTRACTORS in r.run]
    report: dict[str, Any] = {}
    use = json.loads(args.use) if args.use else {}
    chosen: dict[str, Any] = {}
    for kind, cross in (("same", False), ("cross", True)):
        rs = [r for r in main_rows if r.cross == cross]
        if args.distractor_runs:
            rs += [r for r in dis_rows if r.cross == cross]
        if not rs:
            continue
        for on in ("all", "train"):
            base = loso(rs, None, 0.0, threshold_on=on)
            print(f"== {kind}: hand-set evidence formula, leave-one-set-out, threshold on {on}:")
            for run, v in base.items():
                print(f"    {run}: {v}")
        if kind in use:
            names, l2 = tuple(use[kind]), float(use.get("l2", 1.0))
            best = {"features": names, "l2": l2, "per_set": loso(rs, names, l2)}
        else:
            results = search(rs, kind)
            for r in results[:5]:
                print(f"  {r['worst']:.3f} worst / {r['mean']:.3f} mean, ⊇ gold kept: {r['keeps_gold']}, "
                      f"no set worse: {r['no_set_worse']}, "
                      f"l2 {r['l2']}: {', '.join(r['features'])}")
            best = results[0]
        print(f"== {kind}: chosen {best['features']} l2 {best['l2']}, leave-one-set-out, threshold on all:")
        for run, v in best["per_set"].items():
            print(f"    {run}: {v}")
        strict = loso(rs, tuple(best["features"]), best["l2"], threshold_on="train")
        print(f"== {kind}: the same, threshold on the training sets only:")
        for run, v in strict.items():
            print(f"    {run}: {v}")
        best["strict"] = strict
        if args.fold_heads:
            for on in ("all", "train"):
                honest = loso_fold_heads(args.features, cross, tuple(best["features"]), best["l2"],
                                         args.distractor_runs, on)
                base_h = loso_fold_heads(args.features, cross, tuple(f for f in best["features"]
                                                                     if not f.startswith("answerable")),
                                         best["l2"], args.distractor_runs, on)
                print(f"== {kind}: the same with fold heads (answerability head fitted without the held-out set), "
                      f"threshold on {on}; [without the answerability features]:")
                for run, v in honest.items():
                    print(f"    {run}: {v}\n        [{base_h[run]}]")
                best[f"fold_heads_{on}"] = honest
                best[f"fold_heads_{on}_without"] = base_h
        model = fit_model(rs, tuple(best["features"]), best["l2"])
        s = scores(rs, model)
        bs = scores(rs, None)
        th = guarded_threshold(rs, s, bs, BEFORE[kind])
        ten = threshold(rs, s, rule="every")

        def by_run(sc: np.ndarray, t: float, runs: Any = None) -> dict[str, Any]:
            return {run: rates([r for r in rs if r.run == run], sc[[r.run == run for r in rs]], t)
                    for run in (runs or sorted(x for x in {r.run for r in rs}
                                               if sum(r.run == x for r in rs) >= 2 * MIN_RUN))}

        per = by_run(s, th)
        base_per = by_run(bs, threshold(rs, bs, rule="every"))
        before_per = by_run(bs, BEFORE[kind])
        print(f"== {kind}: fitted on all, one threshold {th:.4f} (≤ {BUDGET:.0%} answerable refused on every set, "
              f"⊇ gold kept; the 10 % rule alone: {ten:.4f}):")
        for run, v in per.items():
            print(f"    {run}: {v}\n        [hand-set at ≤ 10 % on every set: {base_per[run]}]"
                  f"\n        [before (hand-set, {BEFORE[kind]}): {before_per[run]}]")
        if ten != th:
            for run, v in by_run(s, ten).items():
                print(f"    at the 10 % rule alone {run}: {v}")
        print(f"   pooled curve model:   {curve(rs, s)}")
        print(f"   pooled curve shipped: {curve(rs, bs)}")
        extra = {}
        if dis_rows and not args.distractor_runs:
            ds = [r for r in dis_rows if r.cross == cross]
            if ds:
                dsc = scores(ds, model)
                extra = {run: rates([r for r in ds if r.run == run], dsc[[r.run == run for r in ds]], th)
                         for run in sorted({r.run for r in ds})}
                dbs = scores(ds, None)
                for run, v in extra.items():
                    print(f"    among distractors {run}: {v}\n        [before: "
                          f"{rates([r for r in ds if r.run == run], dbs[[r.run == run for r in ds]], BEFORE[kind])}]")
        chosen[kind] = {"model": model, "threshold": th, "per_set": per, "before": before_per,
                        "loso": best["per_set"],
                        "loso_strict": best["strict"], "features": list(best["features"]), "l2": best["l2"],
                        "loso_fold_heads": best.get("fold_heads_all"),
                        "distractors": extra, "answerable": sum(1 for r in rs if r.label == 1),
                        "unanswerable": sum(1 for r in rs if r.label == 0)}
        report[kind] = {k: v for k, v in chosen[kind].items() if k != "model"}
        report[kind]["model"] = model.to_json()
    print(json.dumps(report, ensure_ascii=False))
    if args.write:
        write(chosen, shlex.join(sys.argv[1:]))


def write(chosen: dict[str, Any], argv: str) -> None:
    from importlib import resources

    root = Path(str(resources.files("rag").joinpath("resources")))
    command = "python bench/refusal_model.py " + argv
    models = {"models": {k: v["model"].to_json() for k, v in chosen.items()},
              "command": command, "measured": time.strftime("%Y-%m-%d"),
              "why": "logistic regression, answerable (1) vs answer-removed (0) dev questions; feature set and "
                     "L2 chosen by leave-one-set-out cross-validation (bench/refusal_model.py)"}
    (root / "refusal_model.json").write_text(json.dumps(models, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    what = {"same": "question in the passages' script", "cross": "question in another script than the passages"}
    cal = {"extractive": {k: {"threshold": round(v["threshold"], 4), "max_refused_answerable": BUDGET,
                              "answerable": v["answerable"], "unanswerable": v["unanswerable"],
                              "per_set": v["per_set"],
                              "rule": "highest refusal-model log-odds refusing at most 10% of the answerable "
                                      "questions of every dev set and keeping each set's answer ⊇ gold (within "
                                      "0.01) at least what the hand-set evidence gave before",
                              "what": what[k]} for k, v in chosen.items()},
           "command": command, "measured": time.strftime("%Y-%m-%d")}
    (root / "calibration.json").write_text(json.dumps(cal, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print("wrote", root / "refusal_model.json", "and", root / "calibration.json")


if __name__ == "__main__":
    main()
