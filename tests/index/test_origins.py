"""Where an article came from: origins in citations (text, JSON), `rag show`, and the schema-2 migration
that stores the indexed folder (an index from before it opens, and gains it without re-embedding)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from index.store import SCHEMA_VERSION, Store, catalog_path, format_origin
from rag.cli import main

QUESTION = "ما الذي افتتح في القاهرة؟"


def run(index: Path, *args: str):
    return CliRunner().invoke(main, ["--index", str(index), *args], catch_exceptions=False)


def make_archive(root: Path) -> Path:
    (root / "2024").mkdir(parents=True)
    (root / "2024" / "feed.jsonl").write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in [
        {"id": "ahram-17", "title": "مهرجان المسرح", "text": "افتتح مهرجان المسرح التجريبي دورته الجديدة في القاهرة.",
         "source": "الأهرام", "date": "2024-05-10", "url": "https://example.org/17"},
        {"title": "أمطار", "text": "هطلت أمطار غزيرة على مدن العراق الجنوبية."},
    ]), encoding="utf-8")
    return root


@pytest.fixture()
def built(tmp_path) -> tuple[Path, Path]:
    archive, index = make_archive(tmp_path / "archive"), tmp_path / ".rag"
    assert run(index, "index", "build", str(archive), "-q").exit_code == 0
    return archive, index


def test_citation_origin_in_json_and_text(built):
    archive, index = built
    out = json.loads(run(index, "ask", QUESTION, "--json").stdout)
    cited = (out["citations"] or out["related"])[0]
    assert cited["origin"] == "archive/2024/feed.jsonl#0 (id ahram-17)"
    text = run(index, "ask", QUESTION).stdout
    assert "    ↳ archive/2024/feed.jsonl#0 (id ahram-17)" in text


def test_format_origin():
    assert format_origin("/a/b/c.txt#2", "/a/b/c.txt", 2, "/a") == "a/b/c.txt#2"
    assert format_origin("x-1", "/a/b/c.jsonl", 0, "/a/b") == "b/c.jsonl#0 (id x-1)"
    assert format_origin("/a/b/c.txt#2", "/a/b/c.txt", 2, None) == "/a/b/c.txt#2"
    assert format_origin("pasted:abc", "/i/uploads/pasted", 0, "/i/uploads") == "pasted in the browser"


def test_show_by_content_id_origin_id_and_path(built, monkeypatch):
    archive, index = built
    out = json.loads(run(index, "ask", QUESTION, "--json").stdout)
    content_id = (out["citations"] or out["related"])[0]["article_id"]
    by_id = run(index, "show", content_id).stdout
    assert by_id.startswith("مهرجان المسرح\n") and "افتتح مهرجان المسرح التجريبي" in by_id
    assert "source  الأهرام" in by_id and "url     https://example.org/17" in by_id
    assert "origin  archive/2024/feed.jsonl#0 (id ahram-17)  (" + str(archive.resolve()) in by_id
    assert run(index, "show", "ahram-17").stdout == by_id                          # the article's own id
    assert run(index, "show", "archive/2024/feed.jsonl#0").stdout == by_id         # as a citation shows it
    assert run(index, "show", "archive/2024/feed.jsonl:0").stdout == by_id         # path:position
    assert run(index, "show", str(archive / "2024" / "feed.jsonl") + "#0").stdout == by_id   # absolute
    monkeypatch.chdir(archive)
    assert run(index, "show", "2024/feed.jsonl#0").stdout == by_id                 # relative to here
    both = json.loads(run(index, "show", "2024/feed.jsonl", "--json").stdout)      # the whole file
    assert [a["title"] for a in both] == ["مهرجان المسرح", "أمطار"]
    assert both[1]["origins"][0]["position"] == 1 and both[0]["origins"][0]["root"] == str(archive.resolve())
    missing = run(index, "show", "archive/2024/غائب.jsonl#3")
    assert missing.exit_code == 2 and "no article «archive/2024/غائب.jsonl#3»" in missing.stderr


def _downgrade_to_schema_1(index: Path) -> None:
    """The catalog exactly as main's code (schema 1) writes it: origins without `root`."""
    conn = sqlite3.connect(catalog_path(index))
    conn.execute("ALTER TABLE origins DROP COLUMN root")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    conn.commit()
    conn.close()


def test_an_index_from_before_schema_2_opens_and_migrates_without_re_embedding(built, counter):
    archive, index = built
    _downgrade_to_schema_1(index)
    # a reader opens it as it is: the origin is the absolute path until a writer migrates it
    out = json.loads(run(index, "ask", QUESTION, "--json").stdout)
    assert (out["citations"] or out["related"])[0]["origin"].startswith(str(archive.resolve()) + "/2024/feed.jsonl#0")
    report = json.loads(run(index, "index", "update", str(archive), "--embedder", "counting", "--json", "-q").stdout)
    assert report["unchanged"] == 2 and report["chunks_embedded"] == 0 and counter.passages_embedded == 0
    conn = sqlite3.connect(catalog_path(index))
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
    assert {r[0] for r in conn.execute("SELECT root FROM origins")} == {str(archive.resolve())}
    conn.close()
    out = json.loads(run(index, "ask", QUESTION, "--json").stdout)
    assert (out["citations"] or out["related"])[0]["origin"] == "archive/2024/feed.jsonl#0 (id ahram-17)"
    store = Store(index)   # and it reads as a current index
    assert store.info.generation >= 1
    store.close()


def test_an_update_of_a_subfolder_shows_paths_from_the_indexed_folder(built):
    archive, index = built
    (archive / "2025").mkdir()
    (archive / "2025" / "new.txt").write_text("معرض الكتاب\nافتتح معرض الكتاب في القاهرة أبوابه.\n", encoding="utf-8")
    assert run(index, "index", "update", str(archive / "2025"), "-q").exit_code == 0
    shown = json.loads(run(index, "show", str(archive / "2025" / "new.txt"), "--json").stdout)
    assert shown[0]["origins"][0]["label"] == "archive/2025/new.txt#0"
