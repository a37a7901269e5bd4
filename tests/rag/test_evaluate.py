"""The `rag eval` harness on tiny SQuAD files written here: titles, parallel questions, distractors mixed in
(embedded once), answer removal, and the threshold choice. Real embedder, FAISS and SQLite throughout."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from index.arabic import normalize
from index.store import Store
from rag.cli import main
from rag.evaluate import (build_index, choose_threshold, distractor_articles, load_dev_sets, load_squad,
                          remove_answers, tradeoff_curve)

# Two titled articles (ARCD / MLQA style: Arabic titles that carry the topic), three paragraphs, four questions.
PARAS = [
    ("مدينة البتراء",
     "البتراء مدينة أثرية في جنوب الأردن. نحتها الأنباط في الصخر الوردي قبل أكثر من ألفي عام. "
     "اختيرت البتراء عام 2007 واحدة من عجائب الدنيا السبع الجديدة.",
     [("q1", "متى اختيرت البتراء من عجائب الدنيا؟", "When was Petra chosen as a wonder of the world?", "2007"),
      ("q2", "من نحت البتراء؟", "Who carved Petra?", "الأنباط")]),
    ("مدينة البتراء",
     "يزور البتراء مئات الآلاف من السياح كل سنة. ويصل الزوار إليها عبر ممر ضيق يسمى السيق.",
     [("q3", "ما اسم الممر المؤدي إلى البتراء؟", "What is the passage leading to Petra called?", "السيق")]),
    ("نهر النيل",
     "نهر النيل أطول أنهار أفريقيا. يبلغ طوله نحو 6650 كيلومترا. ويصب النيل في البحر المتوسط.",
     [("q4", "كم يبلغ طول نهر النيل؟", "How long is the Nile?", "6650 كيلومترا")]),
]
DISTRACTORS = [
    {"id": f"ant-{i}", "title": title, "date": "2016-03-0" + str(i + 1), "source": "جوهرة أف أم", "text": text}
    for i, (title, text) in enumerate([
        ("افتتاح مهرجان قرطاج", "افتتح مهرجان قرطاج الدولي دورته الجديدة بحضور جمهور كبير في المسرح الأثري."),
        ("ارتفاع أسعار الخضر", "سجلت أسعار الخضر ارتفاعا ملحوظا في الأسواق التونسية هذا الأسبوع."),
        ("فوز الترجي", "فاز الترجي الرياضي على النادي الصفاقسي بهدفين دون رد في البطولة."),
        ("لا يقرأ", "هذا المقال خارج العدد المطلوب ولا يجوز أن يدخل الفهرس."),
    ])
]


def squad(lang: str, titles: str = "arabic") -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for title, context, qas in PARAS:
        name = title if titles == "arabic" else {"مدينة البتراء": "Petra", "نهر النيل": "Nile_River"}[title]
        if not data or data[-1]["title"] != name:
            data.append({"title": name, "paragraphs": []})
        data[-1]["paragraphs"].append({"context": context, "qas": [
            {"id": qid, "question": (f" - {ar} " if lang == "ar" else en),
             "answers": [{"text": ans, "answer_start": context.find(ans)}]} for qid, ar, en, ans in qas]})
    return {"data": data}


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, obj in {"tiny.ar.json": squad("ar"), "tiny.en.json": squad("en"),
                      "xq.ar.json": squad("ar", titles="english")}.items():
        out[name] = tmp_path / name
        out[name].write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    out["news"] = tmp_path / "news.jsonl.gz"
    with gzip.open(out["news"], "wt", encoding="utf-8") as fh:
        fh.write("\n".join(json.dumps(d, ensure_ascii=False) for d in DISTRACTORS) + "\n")
    return out


def test_arabic_titles_become_article_titles_and_english_ones_stay_out(files: dict[str, Path]) -> None:
    titled, questions = load_squad(files["tiny.ar.json"])
    assert [a.title for a in titled] == ["مدينة البتراء", "مدينة البتراء", "نهر النيل"]
    assert questions[0].question == "متى اختيرت البتراء من عجائب الدنيا؟"      # list dash and padding gone
    untitled, _ = load_squad(files["xq.ar.json"])
    assert [a.title for a in untitled] == ["", "", ""]
    assert untitled[2].source == "Nile River"
    assert [a.text for a in untitled] == [a.text for a in titled]


def test_parallel_questions_are_paired_by_their_ids(files: dict[str, Path]) -> None:
    sets = load_dev_sets([files["tiny.ar.json"], files["xq.ar.json"]], [files["tiny.en.json"]])
    assert list(sets[0].questions) == ["tiny.ar.json", "tiny.en.json"]
    assert list(sets[1].questions) == ["xq.ar.json"]          # ids shared with both: the first set takes it
    en = sets[0].questions["tiny.en.json"]
    ar = sets[0].questions["tiny.ar.json"]
    assert [q.id for q in en] == [q.id for q in ar] and en[3].question == "How long is the Nile?"
    assert [q.gold for q in en] == [q.gold for q in ar]


def test_a_parallel_file_sharing_no_ids_is_refused_by_name(files: dict[str, Path], tmp_path: Path) -> None:
    stray = tmp_path / "stray.json"
    stray.write_text(json.dumps({"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": [
        {"id": "zzz", "question": "?", "answers": [{"text": "c", "answer_start": 0}]}]}]}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="stray.json"):
        load_dev_sets([files["tiny.ar.json"]], [stray])


def test_answer_removal_drops_the_answer_sentence_and_keeps_the_rest(files: dict[str, Path]) -> None:
    articles, questions = load_squad(files["tiny.ar.json"])
    gone = remove_answers(articles, questions)
    assert len(gone.articles) == 3 and gone.sentences_removed == 4
    petra, siq, nile = (a.text for a in gone.articles)
    # every question's answer is gone from every paragraph …
    for q in questions:
        assert all(normalize(q.answers[0]) not in normalize(t) for t in (petra, siq, nile))
        assert gone.removed[q.id]
    # … while the sentences holding no answer stay verbatim (the topic is still there)
    assert petra == "البتراء مدينة أثرية في جنوب الأردن."
    assert siq == "يزور البتراء مئات الآلاف من السياح كل سنة."
    assert nile == "نهر النيل أطول أنهار أفريقيا. ويصب النيل في البحر المتوسط."
    assert [a.title for a in gone.articles] == [a.title for a in articles]


def test_a_question_whose_answer_survives_elsewhere_is_not_counted(files: dict[str, Path]) -> None:
    articles, questions = load_squad(files["tiny.ar.json"])
    # "البتراء" (as an answer) occurs in sentences that hold no gold answer: it is not removable
    q = questions[1]
    fake = type(q)(q.id, q.question, ("البتراء",), q.gold, (0,), q.group)
    gone = remove_answers(articles, [fake, *questions[2:]])
    assert gone.removed[q.id] is False
    assert gone.removed["q3"] is True


def test_distractors_are_the_first_n_articles_of_a_gzipped_feed(files: dict[str, Path], tmp_path: Path) -> None:
    arts = distractor_articles(files["news"], 3, tmp_path / "work")
    assert [a.title for a in arts] == ["افتتاح مهرجان قرطاج", "ارتفاع أسعار الخضر", "فوز الترجي"]
    assert arts[0].date == "2016-03-01" and arts[0].source == "جوهرة أف أم"
    with pytest.raises(ValueError, match="at least 1"):
        distractor_articles(files["news"], 0, tmp_path / "work")


def test_each_set_is_added_to_a_copy_of_the_distractor_index(files: dict[str, Path], tmp_path: Path,
                                                           counter: Any) -> None:
    work = tmp_path / "work"
    mixed_in = distractor_articles(files["news"], 3, work)
    base = build_index(work / "base", mixed_in, counter(), "counting")
    after_base = counter.passages_embedded
    assert after_base == 3
    articles, _ = load_squad(files["tiny.ar.json"])
    mixed = build_index(work / "mixed", mixed_in + articles, counter(), "counting", seed_from=base)
    assert counter.passages_embedded - after_base == 3          # only the set's paragraphs were embedded
    alone = build_index(work / "alone", articles, counter(), "counting", seed_from=mixed)
    assert counter.passages_embedded - after_base == 3          # the distractors were removed, nothing embedded
    # an index built from scratch takes the vectors another evaluation index already holds
    again = build_index(work / "again", articles, counter(), "counting", donors=[mixed])
    assert counter.passages_embedded - after_base == 3
    for root, n in ((base, 3), (mixed, 6), (alone, 3), (again, 3)):
        store = Store(root)
        with store.snapshot() as snap:
            assert snap.conn.execute("SELECT count(*) FROM articles").fetchone()[0] == n
        store.close()


def test_threshold_choice_refuses_most_unanswerable_within_the_budget() -> None:
    answerable = [float(x) for x in range(10, 30)]        # 20 scores 10 … 29
    unanswerable = [5.0, 8.0, 11.0, 12.5, 20.0, 40.0]
    chosen = choose_threshold(answerable, unanswerable, 0.10)
    assert chosen["threshold"] == 12.0                      # 10 and 11 refused: 2 of 20 = 10 %
    assert chosen["refused_answerable"] == 0.10
    assert chosen["refused_unanswerable"] == round(3 / 6, 4)  # 5, 8, 11
    assert choose_threshold(answerable, unanswerable, 0.0)["threshold"] == 10.0
    curve = tradeoff_curve(answerable, unanswerable)
    assert [p["refused_answerable"] for p in curve] == sorted(p["refused_answerable"] for p in curve)
    assert [p["refused_unanswerable"] for p in curve] == sorted(p["refused_unanswerable"] for p in curve)
    points = tradeoff_curve(answerable, unanswerable, (0.0, 0.10, 1.0))
    assert [p["refused_answerable"] for p in points] == [0.0, 0.10, 1.0]
    with pytest.raises(ValueError, match="max_refused_answerable"):
        choose_threshold(answerable, unanswerable, 1.5)


def test_rag_eval_reports_every_set_alone_and_with_distractors(files: dict[str, Path], tmp_path: Path) -> None:
    """The CI smoke path of the whole harness: two sets, parallel English questions, 3 distractors, answer
    removal, JSON with per-question evidence and script kind."""
    work = tmp_path / "work"
    args = ["eval", str(files["tiny.ar.json"]), str(files["xq.ar.json"]), "--questions-from",
            str(files["tiny.en.json"]), "--distractors", str(files["news"]), "--distractor-count", "3",
            "--remove-answer", "--work", str(work), "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)
    assert set(runs) == {"tiny.ar.json", "tiny.en.json", "xq.ar.json", "tiny.ar.json +3 distractors",
                         "tiny.en.json +3 distractors", "xq.ar.json +3 distractors"}
    for name, res in runs.items():
        assert res["questions"] == 4
        assert res["hybrid"]["R@10"] == 1.0, name                # the gold paragraph is always among 10 of 6
        assert res["answer_removed"]["questions"] == 4
        for rec in res["per_question"]:
            assert rec["script"] == ("cross" if name.startswith("tiny.en") else "same")
            assert isinstance(rec["evidence"], float) and isinstance(rec["evidence_removed"], float)
    # the distractors really are in the mixed indexes, and the English titles stayed out of the XQuAD-style set
    store = Store(work / "tiny.ar+news3")
    with store.snapshot() as snap:
        titles = {r[0] for r in snap.conn.execute("SELECT title FROM articles")}
    store.close()
    assert {"افتتاح مهرجان قرطاج", "مدينة البتراء"} <= titles and "لا يقرأ" not in titles
    store = Store(work / "xq.ar")
    with store.snapshot() as snap:
        assert {r[0] for r in snap.conn.execute("SELECT title FROM articles")} == {""}
    store.close()
    text = CliRunner().invoke(main, args[:-1], catch_exceptions=False).stdout
    assert "| tiny.en.json +3 distractors | hybrid |" in text and "answer-removed questions" in text


def test_question_vectors_are_kept_per_embedder(tmp_path: Path) -> None:
    import numpy as np

    from rag.evaluate import load_query_vectors, save_query_vectors

    path = tmp_path / "query-vectors.npz"
    vecs = {"من نحت البتراء؟": np.arange(4, dtype=np.float32), "How long is the Nile?": np.ones(4, np.float32)}
    save_query_vectors(path, "e5-small", vecs)
    back = load_query_vectors(path, "e5-small")
    assert set(back) == set(vecs) and all(np.array_equal(back[k], v) for k, v in vecs.items())
    assert load_query_vectors(path, "another-model") == {}       # another vector space starts afresh
    assert load_query_vectors(tmp_path / "none.npz", "e5-small") == {}
