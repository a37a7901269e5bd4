"""`rag index build|update` cannot lose an index by mistake: a path that does not exist stops the command
before anything changes, a build that would remove most of the index asks for --yes, --dry-run writes and
embeds nothing, and a run that changes nothing publishes no new generation. Real embedder, FAISS, SQLite."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from index.store import Store
from rag.cli import main
from tests.conftest import SEED_DIR

from ..robustness.helpers import inspect, story, write_stories


def run(index: Path, *args: str):
    return CliRunner().invoke(main, ["--index", str(index), *map(str, args)], catch_exceptions=False)


def snapshot(index: Path) -> tuple[int, str, dict[str, float]]:
    """Generation, last update and every file's mtime: equal before and after means nothing was written."""
    store = Store(index)
    info = (store.info.generation, store.info.updated_at)
    store.close()
    return (*info, {f.name: f.stat().st_mtime_ns for f in index.iterdir() if f.name != "write.lock"})


def three_folders(tmp_path: Path) -> Path:
    news = tmp_path / "news"
    for name, first in (("a", 0), ("b", 2), ("c", 4)):
        write_stories(news / name, [story(first), story(first + 1)])
    return news


def test_a_path_that_does_not_exist_stops_build_and_update_before_anything_changes(tmp_path):
    index = tmp_path / ".rag"
    assert run(index, "index", "build", SEED_DIR).exit_code == 0
    before = snapshot(index)
    for command in ("build", "update"):
        result = run(index, "index", command, tmp_path / "seeds-typo")
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"rag: no such file or folder: {tmp_path / 'seeds-typo'} (nothing was changed)"]
        # one existing path beside the typo: still nothing happens
        assert run(index, "index", command, SEED_DIR, tmp_path / "typo2").exit_code == 2
    assert snapshot(index) == before


def test_a_build_that_would_remove_most_of_the_index_needs_yes(tmp_path, counter):
    news = three_folders(tmp_path)
    index = tmp_path / ".rag"
    assert run(index, "index", "build", news).exit_code == 0
    before = snapshot(index)
    refused = run(index, "index", "build", news / "a", "--embedder", "counting")
    assert refused.exit_code == 1
    assert "would remove 4 of the 6 indexed articles" in refused.stderr and "--yes" in refused.stderr
    assert str(news / "b") in refused.stderr and "nothing was changed" in refused.stderr
    assert f"`rag --index {index} index build {news / 'a'} --dry-run`" in refused.stderr  # the hint names --index
    assert snapshot(index) == before and counter.passages_embedded == 0
    # removing half (not more) goes ahead without asking; --yes goes ahead
    assert run(index, "index", "build", news / "a", news / "b", news / "c").exit_code == 0
    ok = run(index, "index", "build", news / "a", "--yes", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["articles"] == 2


def test_build_removing_half_is_not_asked(tmp_path):
    news = tmp_path / "news"
    write_stories(news / "a", [story(0)])
    write_stories(news / "b", [story(1)])
    index = tmp_path / ".rag"
    assert run(index, "index", "build", news).exit_code == 0
    result = run(index, "index", "build", news / "a", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["removed"] == 1


def test_dry_run_says_what_would_change_and_writes_and_embeds_nothing(tmp_path, counter):
    news = three_folders(tmp_path)
    index = tmp_path / ".rag"
    # on no index at all: everything would be added, and no folder is created
    first = run(index, "index", "build", news, "--dry-run", "--embedder", "counting")
    assert first.exit_code == 0 and not index.exists()
    assert "6 to add, 0 to change, 0 to remove" in first.stdout and "6 chunks to embed" in first.stdout
    assert counter.passages_embedded == 0
    assert run(index, "index", "build", news, "--embedder", "counting").exit_code == 0
    before = snapshot(index)

    shutil.rmtree(news / "c")
    write_stories(news / "a", [story(0, variant=1), story(1)])     # one article edited
    write_stories(news / "d", [story(9)])                           # one added
    counter.passages_embedded = 0
    for command in ("build", "update"):
        result = run(index, "index", command, news, "--dry-run")
        assert result.exit_code == 0, result.stderr
        assert "1 to add, 1 to change, 2 to remove, 3 unchanged; 2 chunks to embed" in result.stdout
        assert f"  + {(news / 'd' / 'c009.txt').resolve()} (1 article added)" in result.stdout
        assert f"  ~ {(news / 'a' / 'c000.txt').resolve()} (1 article changed)" in result.stdout
        assert f"  - {(news / 'c' / 'c004.txt').resolve()} (1 article removed)" in result.stdout
    report = json.loads(run(index, "index", "update", news / "a", "--dry-run", "--json").stdout)
    assert report["dry_run"] and (report["changed"], report["removed"], report["added"]) == (1, 0, 0)
    assert counter.passages_embedded == 0 and snapshot(index) == before

    real = json.loads(run(index, "index", "build", news, "--json").stdout)   # what the dry run said
    assert (real["added"], real["changed"], real["removed"], real["chunks_embedded"]) == (1, 1, 2, 2)


def test_a_run_that_changes_nothing_publishes_no_generation_and_says_it_plainly(tmp_path):
    folder = tmp_path / "news"
    write_stories(folder, [story(0)])
    shutil.copy(folder / "c000.txt", folder / "copy.txt")   # the same article twice: stored once
    index = tmp_path / ".rag"
    first = run(index, "index", "build", folder)
    assert "1 duplicate stored once; 1 chunk embedded" in first.stdout and "now 1 article, 1 chunk" in first.stdout
    state, before = inspect(index), snapshot(index)
    for command in ("update", "build"):
        again = run(index, "index", command, folder)
        assert again.exit_code == 0
        assert "0 chunks embedded" in again.stdout and "duplicate" not in again.stdout
        assert snapshot(index) == before  # same generation, same "last update", no file rewritten
    assert inspect(index).generation == state.generation


def test_status_sizes_are_mebibytes_and_build_help_says_files_are_not_touched(tmp_path, seed_index):
    status = run(seed_index, "index", "status")
    size = next(line for line in status.stdout.splitlines() if line.startswith("size"))
    as_json = json.loads(run(seed_index, "index", "status", "--json").stdout)
    assert size.endswith(" MiB") and float(size.split()[1]) == round(as_json["size_bytes"] / 2 ** 20, 2)
    help_text = " ".join(CliRunner().invoke(main, ["index", "build", "--help"]).stdout.split())
    assert "anything else is removed from the index; your files are not touched" in help_text


def test_a_stopped_run_keeps_finished_articles_and_removes_nothing_a_stopped_rebuild_changes_nothing(tmp_path,
                                                                                                      counter):
    from index.update import update_index

    news = tmp_path / "news"
    write_stories(news / "a", [story(0), story(1)])
    index = tmp_path / ".rag"
    engine = counter()
    update_index(index, [news], engine, "counting", prune_all=True)
    before = inspect(index)
    (news / "a" / "c000.txt").unlink()                        # would be removed by a complete build
    write_stories(news / "b", [story(i) for i in range(2, 8)])  # 6 to add
    counter.passages_embedded = 0

    def stop() -> bool:  # Ctrl-C arrives during the first engine call
        return counter.passages_embedded > 0

    report = update_index(index, [news], engine, "counting", prune_all=True, stop=stop)
    assert report.interrupted and report.removed == 0
    state = inspect(index)
    assert before.articles < state.articles                    # c000 kept: the read was incomplete
    assert 0 < report.added == len(state.articles) - 2 < 6 and report.chunks_embedded == counter.passages_embedded
    store = Store(index)
    with store.snapshot() as snap:
        dangling = snap.conn.execute(
            "SELECT count(*) FROM origins WHERE article_id NOT IN (SELECT id FROM articles)").fetchone()[0]
        origins = snap.conn.execute("SELECT count(*) FROM origins").fetchone()[0]
    store.close()
    assert dangling == 0 and origins == len(state.articles)    # no origin for an article that was not stored

    rebuilt = update_index(index, [news], engine, "counting", prune_all=True, fresh=True, stop=lambda: True)
    assert rebuilt.interrupted
    after = inspect(index)
    assert after.generation == state.generation and after.articles == state.articles

    finished = update_index(index, [news], engine, "counting", prune_all=True)
    assert not finished.interrupted and finished.removed == 1
    assert finished.chunks_embedded == 6 - report.added         # nothing embedded twice


def test_an_unreadable_catalog_is_named_by_dry_run_and_replaced_by_build(tmp_path):
    import sqlite3

    index = tmp_path / ".rag"
    index.mkdir()
    conn = sqlite3.connect(index / "catalog.sqlite")
    conn.execute("CREATE TABLE other(x)")
    conn.commit()
    conn.close()
    dry = run(index, "index", "build", SEED_DIR, "--dry-run")
    assert dry.exit_code == 1 and "not a readable index catalog" in dry.stderr and len(dry.stderr.splitlines()) == 1
    built = run(index, "index", "build", SEED_DIR, "--json")
    assert built.exit_code == 0 and json.loads(built.stdout)["articles"] == 2
