"""The refusal score: does the best sentence hold what was asked, or is it only on topic?

The best sentence's score alone cannot tell a paragraph with its fact from the same paragraph without it:
what is left is still on topic, so its cosine stays high. What changes is *how* the question is matched.
When the answer is there, one sentence holds the question's rare words (those few sentences of the
retrieved passages share), stands out from the others, and holds a span of the asked kind next to the
question's words; when it was removed, the rare words are gone or spread over several sentences, the best
sentence is one of many alike, and the passage covers more of the question than any one sentence does.
Across scripts, where an English question shares no words with the Arabic sentences, the answerability head
(answerability.py: a fitted reading of the e5 vectors beyond their cosine) says how likely the best candidate
states what was asked; in the same script it added nothing the keyword features did not already carry
(bench/README §9d), so only the cross-script model reads it.

``features`` turns the answerer's :class:`~rag.answer.extractive.Scored` view into those numbers, and
:class:`RefusalModel` combines them by a logistic regression fitted on the dev sets (answerable vs
answer-removed questions, weights chosen by leave-one-set-out cross-validation, one model per script:
``python bench/refusal_model.py``); its log-odds is the evidence the threshold is compared with. The
weights ship as JSON in rag/resources/refusal_model.json: numpy only, nothing to load at import time.
"""
from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Protocol, Sequence

from index.arabic import keyword_terms

#: Kinds whose absence from every candidate is a refusal signal of its own (the answerer's KIND_GATE).
GATED_KINDS = ("number", "time")
_WORD = re.compile(r"\S+")


class _Cand(Protocol):
    cosine: float
    lexical: float
    hit_rank: int
    holds: bool
    terms: set[str]
    text: str
    spans: list[tuple[int, int]]
    answerable: float

    @property
    def dense(self) -> float: ...

    @property
    def score(self) -> float: ...


def _near(cand: _Cand, q_terms: set[str]) -> float:
    """1 / (1 + words between a span of the asked kind and the nearest question word) in ``cand``; 0 when it
    holds no such span or no question word. The gold sentence usually says the answer right beside the
    words the question repeats ("… تكلفة المشروع 45 مليون دينار"); a remaining sentence holding some
    number elsewhere does not."""
    if not cand.spans or not q_terms:
        return 0.0
    words = list(_WORD.finditer(cand.text))
    starts = [m.start() for m in words]
    asked = [i for i, m in enumerate(words) if set(keyword_terms(m.group())) & q_terms]
    if not asked:
        return 0.0
    gap = min(max(0, min(abs(bisect_right(starts, a) - 1 - i), abs(bisect_right(starts, max(a, b - 1)) - 1 - i)) - 1)
              for a, b in cand.spans for i in asked)
    return 1.0 / (1.0 + gap)


def features(scored: Any) -> dict[str, float]:
    """The refusal features of one asked question (``Scored`` or its JSON replay in bench/): see the module
    docstring for why each one. All are bounded and defined for every question with a candidate."""
    # by score, best first: the model was fitted so (the answerer orders its pool by choice, which may put
    # another sentence first to be quoted without changing the evidence)
    cands: Sequence[_Cand] = sorted(scored.candidates, key=lambda c: -c.score)
    idf: dict[str, float] = scored.idf
    total = math.fsum(idf.values()) or 1.0
    q = set(idf)
    best = cands[0]
    second = cands[1] if len(cands) > 1 else None
    in_hits: set[str] = set().union(*scored.hit_terms) if scored.hit_terms else set()
    in_cands: set[str] = set().union(*(c.terms for c in cands)) & q if cands else set()
    # exact sums (fsum) and a maximum by value: the same question gives the same evidence in every process,
    # whatever order its sets iterate in
    cover_all = math.fsum(idf[t] for t in in_hits if t in idf) / total
    rarest = max((idf[t] for t in in_hits if t in idf), default=None)
    title_only = (scored.title_terms - in_hits - in_cands) if scored.title_terms else set()
    lexicals = sorted((c.lexical for c in cands), reverse=True)
    answerables = sorted((c.answerable for c in cands), reverse=True)
    return {
        "score": best.score,
        "cosine": best.cosine,
        "cosine_margin": best.cosine - max((c.cosine for c in cands[1:]), default=best.cosine),
        "score_margin": best.score - (second.score if second else best.score),
        "lexical": best.lexical,
        "lexical_margin": lexicals[0] - (lexicals[1] if len(lexicals) > 1 else 0.0),
        "cover_all": cover_all,
        "lexical_gap": max(0.0, cover_all - best.lexical),
        "dense": max(c.dense for c in cands),
        "missing": scored.missing_share,
        "kind_missing": float(scored.kind in GATED_KINDS and not scored.kind_found),
        "named_missing": float(bool(scored.named_missing)),
        "holds": float(best.holds),
        "near": _near(best, q),
        "rarest_in_best": float(rarest is not None and any(idf.get(t) == rarest for t in best.terms)),
        "title_only": math.fsum(idf.get(t, 0.0) for t in title_only) / total,
        "question_terms": math.log1p(len(q)),
        "cosine_rel": best.cosine - sum(c.cosine for c in cands) / len(cands),
        "close": sum(1 for c in cands[1:] if c.score >= best.score - 0.03) / max(1, len(cands) - 1),
        "top_passage": float(best.hit_rank == 0),
        "lexical_share": best.lexical / cover_all if cover_all > 0 else 0.0,
        # the answerability head (answerability.py): does a sentence state what was asked, not only its topic
        "answerable": best.answerable,
        "answerable_max": answerables[0],
        "answerable_margin": answerables[0] - (answerables[1] if len(answerables) > 1 else answerables[0]),
    }


@dataclass(frozen=True)
class Model:
    """A logistic regression over standardized features: log-odds = bias + Σ w·(x − mean)/scale."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    bias: float

    def logit(self, feats: dict[str, float]) -> float:
        return self.bias + sum(w * (feats[n] - m) / s
                               for n, w, m, s in zip(self.names, self.weights, self.mean, self.scale))

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.names), "weights": [round(w, 6) for w in self.weights],
                "mean": [round(m, 6) for m in self.mean], "scale": [round(s, 6) for s in self.scale],
                "bias": round(self.bias, 6)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Model":
        n = len(data["features"])
        if not (len(data["weights"]) == len(data["mean"]) == len(data["scale"]) == n):
            raise ValueError("refusal model: features, weights, mean and scale must have the same length")
        unknown = set(data["features"]) - (set(FEATURE_NAMES) - set(RULES))
        if unknown:
            raise ValueError(f"refusal model: unknown feature(s) {sorted(unknown)}")
        return cls(tuple(data["features"]), tuple(map(float, data["weights"])), tuple(map(float, data["mean"])),
                   tuple(float(s) or 1.0 for s in data["scale"]), float(data["bias"]))


FEATURE_NAMES = ("score", "cosine", "cosine_margin", "score_margin", "lexical", "lexical_margin", "cover_all",
                 "lexical_gap", "dense", "missing", "kind_missing", "named_missing", "holds", "near",
                 "rarest_in_best", "title_only", "question_terms", "cosine_rel", "close", "top_passage",
                 "lexical_share", "answerable", "answerable_max", "answerable_margin")


#: Log-odds taken off when a place the question names is in no retrieved passage ("موقف الصين" over
#: passages about Russia and North Korea), or — in the passages' script — a "how many"/"when" question finds
#: no number/date in any candidate. Rules, not weights: each fires for 0–4 % of the dev questions, too few to
#: fit, and refusing is right whenever they do; so large that any question they fire for is refused.
RULE_PENALTY = 5.0
#: Not model inputs: the rules above (FEATURE_NAMES keeps them so the bench can report how often they fire).
RULES = ("kind_missing", "named_missing")


def evidence(feats: dict[str, float], cross: bool, models: dict[str, "Model"] | None = None) -> float:
    """The refusal evidence of one question: the model's log-odds for its script, minus the rules."""
    model = (models or shipped_models())["cross" if cross else "same"]
    ruled = feats["named_missing"] + (0.0 if cross else feats["kind_missing"])
    return model.logit(feats) - RULE_PENALTY * ruled


@lru_cache(maxsize=1)
def shipped_models() -> dict[str, Model]:
    """The per-script models ("same", "cross") shipped in rag/resources/refusal_model.json."""
    text = resources.files("rag").joinpath("resources/refusal_model.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {kind: Model.from_json(data["models"][kind]) for kind in ("same", "cross")}
