"""The refusal model (rag/answer/refusal.py, issue 12): what the bench fits is what the answerer computes,
the shipped model reads only known features, and on the real seed index an answerable question scores
above the on-topic ones the seed cannot answer. Real embedder, FAISS and SQLite; no LLM."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.store import Store
from rag.answer.extractive import NO_EVIDENCE, ExtractiveAnswerer, calibrated_thresholds
from rag.answer.refusal import FEATURE_NAMES, RULE_PENALTY, Model, evidence, features, shipped_models
from rag.retrieval import HybridRetriever, Query
from tests.rag.test_answers import CASUALTIES_AR, CHINA_AR, KREMLIN_AR, KREMLIN_EN
from tests.rag.test_ask import AMBASSADOR_AR, KURSK_EN


@pytest.fixture(scope="module")
def asked(seed_index: Path, embedder):
    store = Store(seed_index)
    retriever = HybridRetriever(store, embedder)
    answerer = ExtractiveAnswerer(embedder)

    def ask(question: str):
        r = retriever.run(Query(question, k=5))
        return answerer, r, answerer.scored(question, r)

    yield ask
    store.close()


def test_the_bench_replays_exactly_what_the_answerer_computes(asked):
    """bench/refusal_collect.py stores a Scored as JSON, bench/refusal_model.py reads it back: the features and
    the evidence must be the live ones, or the model would be fitted on something the answerer never sees."""
    from bench.refusal_collect import dump
    from bench.refusal_model import load_scored

    for question in (AMBASSADOR_AR, CHINA_AR, CASUALTIES_AR, KURSK_EN):
        _, _, live = asked(question)
        replayed = load_scored(json.loads(json.dumps(dump(live, ("x",), question), ensure_ascii=False)))
        got, want = features(replayed), features(live)
        assert set(got) == set(want) == set(FEATURE_NAMES)
        for name in FEATURE_NAMES:
            assert got[name] == pytest.approx(want[name], abs=2e-3), (question, name)
        assert evidence(got, replayed.cross) == pytest.approx(live.evidence, abs=0.05)


def test_answerable_seed_questions_score_above_the_unanswerable_ones(asked):
    """Same script: the ambassador and Kremlin-spokesman questions are answered, the China and casualty
    questions (on topic, fact absent) are refused — by the evidence the shipped model gives them."""
    same = calibrated_thresholds()["same"]
    answerable = [asked(q)[2].evidence for q in (AMBASSADOR_AR, KREMLIN_AR)]
    unanswerable = [asked(q)[2].evidence for q in (CHINA_AR, CASUALTIES_AR)]
    assert min(answerable) >= same > max(unanswerable), (answerable, unanswerable, same)
    assert asked(KREMLIN_EN)[2].evidence >= calibrated_thresholds()["cross"]


def test_the_evidence_is_the_models_log_odds_less_the_rules(asked):
    """The ambassador question is answered on the model alone; the China question (a place no passage names)
    and the casualty question (a number no candidate holds) lose RULE_PENALTY for their rule."""
    _, _, s = asked(AMBASSADOR_AR)
    f = features(s)
    assert not f["named_missing"] and not f["kind_missing"]
    assert s.evidence == pytest.approx(shipped_models()["same"].logit(f))
    for question, rule in ((CHINA_AR, "named_missing"), (CASUALTIES_AR, "kind_missing")):
        _, _, s = asked(question)
        f = features(s)
        assert f[rule] == 1.0
        assert s.evidence == pytest.approx(shipped_models()["same"].logit(f) - RULE_PENALTY * (
            f["named_missing"] + f["kind_missing"]))
    s.candidates = []
    assert s.evidence == NO_EVIDENCE


def test_a_model_with_an_unknown_feature_or_ragged_weights_is_refused():
    good = shipped_models()["same"].to_json()
    assert Model.from_json(good).names == tuple(good["features"])
    with pytest.raises(ValueError, match="unknown feature"):
        Model.from_json({**good, "features": good["features"][:-1] + ["no_such_feature"]})
    with pytest.raises(ValueError, match="same length"):
        Model.from_json({**good, "weights": good["weights"][:-1]})


def test_one_threshold_refuses_at_most_a_tenth_of_every_runs_answerable_questions():
    """bench/refusal_model.py's rule: the threshold is set by the run whose answerable questions score lowest,
    not by the pool (which let one set refuse 23 % of its answerable questions)."""
    import numpy as np

    from bench.refusal_model import Row, rates, threshold

    rows, values = [], []
    for run, shift in (("easy", 2.0), ("hard", 0.0)):
        for i in range(20):
            rows.append(Row(run, f"{run}{i}", False, 1, {}, 0.0, True))
            values.append(shift + i / 10)
    s = np.array(values)
    th = threshold(rows, s)
    for run in ("easy", "hard"):
        sub = [i for i, r in enumerate(rows) if r.run == run]
        assert rates([rows[i] for i in sub], s[sub], th)["refused_answerable"] <= 0.10
    assert threshold(rows, s, rule="pooled") > th      # pooled, the hard run would refuse more than a tenth
    hard = [i for i, r in enumerate(rows) if r.run == "hard"]
    assert rates([rows[i] for i in hard], s[hard], threshold(rows, s, rule="pooled"))["refused_answerable"] > 0.10
