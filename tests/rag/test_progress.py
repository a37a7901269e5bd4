"""Progress lines of long jobs (rag/progress.py) and `rag eval`'s progress, as seen when stderr is a log."""
from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner

from rag.cli import main
from rag.progress import Reporter, duration, rate_and_eta


def test_plain_lines_count_done_of_total_with_rate_and_time_left(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("rag.progress.time.monotonic", lambda: now[0])
    out = io.StringIO()
    r = Reporter("indexing", "articles", stream=out, tty=False, every=5.0)
    r.update(0, 100)          # the first line that knows the total is printed at once
    now[0] = 10.0
    r.update(10, 100, "40 chunks embedded")
    now[0] = 12.0
    r.update(20, 100, "80 chunks embedded")   # within 5 s of the last line: not printed now…
    assert len(out.getvalue().splitlines()) == 2
    r.close()                                 # …but the last state always is
    lines = out.getvalue().splitlines()
    assert lines[0] == "indexing: 0/100 articles (0%)"
    assert lines[1].startswith("indexing: 10/100 articles (10%) · 40 chunks embedded · 1.0 articles/s")
    assert "about 1 min 30 s left" in lines[1]
    assert lines[-1].startswith("indexing: 20/100 articles (20%) · 80 chunks embedded · 1.7 articles/s")


def test_plain_lines_are_throttled(monkeypatch):
    monkeypatch.setattr("rag.progress.time.monotonic", lambda: 100.0)
    out = io.StringIO()
    r = Reporter("eval", "questions", stream=out, tty=False, every=5.0)
    for i in range(50):
        r.update(i, 50)
    assert len(out.getvalue().splitlines()) == 1   # one line, not fifty: a log stays readable
    r.update(50, 50)
    r.close()
    assert out.getvalue().splitlines()[-1].startswith("eval: 50/50 questions (100%)")


def test_duration_and_rate_words():
    assert [duration(s) for s in (4.4, 200, 7500)] == ["4 s", "3 min 20 s", "2 h 05 min"]
    assert rate_and_eta(3, 10, 30.0, "articles") == "10.0 s per article, about 1 min 10 s left"
    assert rate_and_eta(0, 10, 30.0, "articles") == ""


def test_disabled_reporter_prints_nothing():
    out = io.StringIO()
    r = Reporter("indexing", "articles", enabled=False, stream=out, tty=False)
    r.update(1, 2)
    r.close()
    assert out.getvalue() == ""


def test_rag_eval_prints_questions_done_of_total(tmp_path):
    squad = {"version": "1", "data": [{"title": "t", "paragraphs": [
        {"context": "عاصمة مصر هي القاهرة وهي مدينة كبيرة.", "qas": [
            {"id": "q1", "question": "ما عاصمة مصر؟", "answers": [{"text": "القاهرة", "answer_start": 11}]},
            {"id": "q2", "question": "ما هي المدينة الكبيرة؟", "answers": [{"text": "القاهرة", "answer_start": 11}]}]},
        {"context": "يقع برج إيفل في باريس.", "qas": [
            {"id": "q3", "question": "أين يقع برج إيفل؟", "answers": [{"text": "باريس", "answer_start": 16}]}]}]}]}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(path), "--no-answer", "--work", str(tmp_path / "w"), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "indexing: 2/2 articles (100%)" in result.stderr
    assert "tiny.json: 3/3 questions (100%)" in result.stderr
    assert json.loads(result.stdout)["tiny.json"]
