"""ui/render.py: every piece of text is escaped, directions follow each text, highlights land on offsets."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from rag.answer import Answer, AnswerSentence, Citation
from ui import render

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
AR = "اكدت السفيرة الأمريكية لدى الأمم المتحدة ليندا توماس غرينفيلد أن روسيا تتفاوض."
EN = "The ambassador said Russia is negotiating."


def citation(passage: str, sentence: str, number: int = 1, title: str = "عنوان", start: int = 100,
             **kw) -> Citation:
    a = passage.index(sentence)
    return Citation(number, "art1", 7, title, kw.get("date", "2023-08-31"), kw.get("source", "السومرية"),
                    kw.get("url"), passage, start, (start + a, start + a + len(sentence)), sentence, 0.9)


def answer(sentences: list[tuple[str, tuple[int, ...]]], citations=(), refused=False, lang="ar") -> Answer:
    return Answer("q", tuple(AnswerSentence(t, c) for t, c in sentences), tuple(citations), refused, lang,
                  "extractive")


def no_live_markup(markup: str) -> None:
    """The injected tags exist only as text: no real <script>/<img> element, no live onerror attribute."""
    assert "<script" not in markup and "<img" not in markup
    assert not re.search(r"<[^>]*\sonerror\s*=", markup)


# --------------------------------------------------------------------------------------------- escaping
@pytest.mark.parametrize("text", [SCRIPT, IMG, f"{AR} {SCRIPT} {IMG}"])
def test_question_and_notes_escape_markup(text: str) -> None:
    for markup in (render.question_html(text), render.note_html(text, "error")):
        no_live_markup(markup)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup or "&lt;img src=x onerror=alert(1)&gt;" in markup


def test_answer_passage_source_and_article_escape_markup() -> None:
    passage = f"{AR}\n{SCRIPT} {IMG}\nسطر آخر."
    c = citation(passage, SCRIPT, title=f"عنوان {IMG}", source=f"<b>{SCRIPT}</b>",
                 url="javascript:alert(1)")
    a = answer([(f"{SCRIPT} {IMG}", (1,))], [c])
    record = SimpleNamespace(title=SCRIPT, date=None, source=IMG, url='http://x/"><script>', text=passage)
    for markup in (render.answer_html(a), render.citation_html(c), render.passage_html(passage),
                   render.article_html(record, (0, 5)), render.streaming_html([f"{SCRIPT} [1]", IMG])):
        no_live_markup(markup)
        assert "&lt;" in markup
    assert "javascript:" not in render.citation_html(c)          # only http(s) links become links
    assert 'href="http://x/&quot;&gt;&lt;script&gt;"' in render.article_html(record)


def test_markup_is_one_line_so_markdown_never_reads_article_text() -> None:
    text = "# heading\n\n*star* $x$ :red[red] [link](javascript:alert(1))\n\n    indented"
    for markup in (render.passage_html(text), render.question_html(text),
                   render.answer_html(answer([(text, (1,))]))):
        assert "\n" not in markup and "\r" not in markup


def test_markdown_labels_are_escaped() -> None:
    label = render.md_plain("[x](javascript:alert(1)) ![i](http://e/i.png) $x$ :red[y] <b>\nnext")
    assert "\n" not in label
    for raw in ("](", "![", "$x$", ":red[", "<b>"):
        assert raw not in label


def test_markdown_export_escapes_html_and_keeps_citations() -> None:
    c = citation(f"{AR} {SCRIPT}", SCRIPT)
    md = render.conversation_markdown([render.Turn(f"سؤال {IMG}", answer([(AR, (1,))], [c])),
                                       render.Turn("broken", error="no index")])
    assert "<script" not in md and "<img" not in md
    assert "[1]" in md and "&lt;script&gt;" in md and "no index" in md and "المصادر" in md


# -------------------------------------------------------------------------------------------- direction
def test_direction_follows_each_text() -> None:
    assert 'dir="rtl"' in render.question_html(AR).split(">")[0]
    assert 'dir="ltr"' in render.question_html(EN).split(">")[0]
    assert render.direction("2023-08-31", "rtl") == "rtl"          # no letters: keep the block's direction
    mixed = render.passage_html(f"{AR}\n{EN}")
    assert mixed.index('<p dir="rtl">') < mixed.index('<p dir="ltr">')  # each line its own direction


def test_answer_direction_markers_and_mixed_sentences() -> None:
    a = answer([(AR, (1,)), (EN, (2,))])
    markup = render.answer_html(a)
    assert markup.startswith('<div class="rag-msg rag-answer" dir="rtl"')
    assert '<span class="rag-sent" dir="ltr">' + EN in markup      # the English sentence is isolated LTR
    assert '<span class="rag-cite" dir="ltr">[1]</span>' in markup
    assert '<span class="rag-cite" dir="ltr">[2]</span>' in markup
    assert 'dir="ltr"' in render.answer_html(answer([(EN, (1,))], lang="en")).split(">")[0]


def test_refusal_is_marked_as_one() -> None:
    from rag.messages import message

    markup = render.answer_html(answer([(message("refusal", "ar"), ())], refused=True))
    assert "rag-refusal" in markup and message("refusal", "ar") in markup and "rag-cite" not in markup


def test_streaming_splits_only_trailing_markers() -> None:
    assert render.split_marker("قال [3] إن الأمر صحيح [1][2]") == ("قال [3] إن الأمر صحيح", (1, 2))
    markup = render.streaming_html([f"{AR} [1]", f"{EN} [2]"])
    assert markup.count('class="rag-cite"') == 2 and 'dir="rtl"' in markup.split(">")[0]
    assert '<span class="rag-sent" dir="ltr">' + EN in markup     # sentences keep their own direction


def test_token_streams_are_one_text_with_inline_markers() -> None:
    tokens = ["قالت", " السفيرة", " الأمريكية", " Linda", " Thomas", "-Greenfield", " إن", " روسيا", " [1]", "."]
    markup = render.streaming_html(tokens, by_sentence=False)
    assert "rag-sent" not in markup                                 # no per-token bidi islands
    assert "Linda Thomas-Greenfield" in markup                      # the name stays one run
    assert '<span class="rag-cite" dir="ltr">[1]</span>' in markup and 'dir="rtl"' in markup.split(">")[0]
    no_live_markup(render.streaming_html(["x ", SCRIPT, " ", IMG, " [2]"], by_sentence=False))
    # a fallback switching from tokens to extractive sentences still gets a space after the marker
    assert "[1]</span> next" in render.streaming_html(["text [1]", "next [2]"], by_sentence=False)


# ------------------------------------------------------------------------------------------- highlights
def test_highlight_uses_sentence_offsets_in_passage() -> None:
    sentence = "ليندا توماس غرينفيلد أن روسيا تتفاوض."
    c = citation(AR, sentence, start=1234)
    assert c.sentence_in_passage == (AR.index(sentence), AR.index(sentence) + len(sentence))
    markup = render.citation_html(c)
    assert f'<mark class="rag-hl">{sentence}</mark>' in markup
    assert markup.count("<mark") == 1
    assert "<mark" not in render.citation_html(c, highlight=False)


def test_highlight_escapes_inside_the_mark_and_crosses_lines() -> None:
    text = f"before {SCRIPT}\nafter"
    a = text.index("<script>")
    markup = render.passage_html(text, (a, len(text)))
    assert '<mark class="rag-hl">&lt;script&gt;alert(1)&lt;/script&gt;</mark>' in markup
    assert '<mark class="rag-hl">after</mark>' in markup             # the part on the next line too


@pytest.mark.parametrize("span", [(-5, 3), (3, 10_000), (8, 2), None])
def test_highlight_offsets_are_clamped(span) -> None:
    markup = render.passage_html("abcdefghij", span)
    assert "abcdefghij" in re.sub(r"<[^>]+>", "", markup)
    if span == (8, 2) or span is None:
        assert "<mark" not in markup


def test_status_table_escapes_values() -> None:
    markup = render.status_html({"articles": 2, "chunks": 5, "sources": 1, "date_from": "2023-08-31",
                                 "date_to": "2024-01-01", "last_update": "2024-01-02T10:00:00",
                                 "embedder": SCRIPT, "embedder_identity": "e5"})
    no_live_markup(markup)
    assert "2023-08-31 … 2024-01-01" in markup


def test_only_html_objects_come_out() -> None:
    assert isinstance(render.answer_html(answer([(AR, (1,))])), render.Html)
    assert isinstance(render.passage_html(AR), render.Html)
    assert isinstance(render.style_html("a{}"), render.Html)


def test_origin_is_escaped_and_isolated_left_to_right() -> None:
    from ui.render import origin_html

    out = origin_html(["أرشيف/<script>alert(1)</script>.jsonl#3 (id <img src=x onerror=alert(1)>)", None])
    assert "<script>" not in out and "<img" not in out and "&lt;script&gt;" in out
    assert out.startswith('<div class="rag-origin" dir="ltr"') and "<bdi>أرشيف/" in out
    assert origin_html([None]) == ""


# ------------------------------------------------------------------ one citation per passage, answer spans
def test_a_passage_cited_for_two_sentences_highlights_both() -> None:
    first, second = "اكدت السفيرة الأمريكية", "ليندا توماس غرينفيلد أن روسيا تتفاوض."
    a, b = AR.index(first), AR.index(second)
    c = Citation(1, "art1", 7, "عنوان", None, None, None, AR, 100, (100 + a, 100 + a + len(first)), first, 0.9,
                 spans=((100 + a, 100 + a + len(first)), (100 + b, 100 + b + len(second))))
    assert c.sentences == (first, second)
    markup = render.citation_html(c)
    assert markup.count('<mark class="rag-hl">') == 2
    assert f'<mark class="rag-hl">{first}</mark>' in markup and f'<mark class="rag-hl">{second}</mark>' in markup
    md = render.conversation_markdown([render.Turn("q", answer([(first, (1,)), (second, (1,))], [c]))])
    assert md.count("- [1] ") == 1 and f"> {first}" in md and f"> {second}" in md


def test_the_short_answer_is_marked_inside_its_sentence_and_escaped() -> None:
    text = f"قال {SCRIPT} إن الكلفة 45 مليون دينار."
    a = text.index("45")
    ans = Answer("q", (AnswerSentence(text, (1,), answer_span=(a, a + len("45 مليون دينار"))),), (), False, "ar",
                 "extractive")
    markup = render.answer_html(ans)
    assert '<mark class="rag-answer-span">45 مليون دينار</mark>' in markup
    no_live_markup(markup)
    bad = Answer("q", (AnswerSentence("abc", (1,), answer_span=(5, 9)),), (), False, "en", "extractive")
    assert "rag-answer-span" not in render.answer_html(bad)          # out-of-range spans are dropped


def test_llm_evidence_from_an_article_with_markup_stays_text() -> None:
    """The evidence sentence comes from article text: markup in it is shown, never run (as the claim)."""
    from rag.answer.base import Evidence

    ev = f"قال المتحدث {SCRIPT} و{IMG} في بيان."
    claim = AnswerSentence(f"The spokesman said {IMG}.", (1,), label="related",
                           evidence=(Evidence(ev, (0, len(ev)), 0.9, 1),))
    markup = render.evidence_html(Answer("q", (claim,), (), False, "en", "llm"))
    assert markup is not None and "&lt;script&gt;" in markup
    no_live_markup(markup)
