"""Must-hold 2: readers during writes, a second writer, and a writer killed from outside.

While a real ``rag index update`` of 200 new articles runs in a child process (committing a generation after
every 64 chunks), two threads share one in-process :class:`Pipeline` and keep asking, and ``rag ask --json``
children ask too. Inside every snapshot a question is answered from, the test checks SQLite ``chunks``,
``chunks_fts`` and FAISS hold the same ids and every vector FAISS serves equals its stored blob (no half-written
state, no mixed vectors); every citation must be a chunk of the generation the answer reports. Runs on every
backend RAG_TEST_BACKENDS selects (tests/backends.py).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager

import pytest

from index.articles import ReadError, read_paths
from index.update import article_id
from rag.pipeline import Pipeline
from tests.backends import IndexUnderTest
from tests.conftest import SEED_DIR

from .helpers import (
    SEED_QUESTION,
    Children,
    cli,
    copy_index,
    inspect,
    leftovers,
    run_rag,
    story,
    wait_for,
    write_stories,
)

N_NEW = 200


def checked_snapshots(pipe: Pipeline, index: IndexUnderTest, seen: dict[int, set[int]], problems: list[str],
                      lock: threading.Lock):
    """Wrap the pipeline's snapshots: verify each one is a whole generation (locally: SQLite chunks, FTS rows and
    FAISS ids agree, every vector served is its own blob) and record its chunk ids."""
    original = pipe.store.snapshot

    @contextmanager
    def snapshot():
        with original() as snap:
            ids, found = index.check_snapshot(snap)
            gen = snap.info.generation
            with lock:
                problems.extend(found)
                if seen.setdefault(gen, set(ids)) != set(ids):
                    problems.append(f"generation {gen} seen with two different sets of chunks")
            yield snap

    pipe.store.snapshot = snapshot


def test_readers_answer_from_one_generation_while_an_update_runs(tmp_path, seed_backend_index, embedder):
    index = copy_index(seed_backend_index, tmp_path / "index")
    feed = tmp_path / "feed"
    stories = [story(i, "r") for i in range(N_NEW)]
    write_stories(feed, stories)
    other = tmp_path / "other"
    write_stories(other, [story(0, "w")])

    pipe = Pipeline(index.settings(), embedder=embedder)
    seen: dict[int, set[int]] = {}
    problems: list[str] = []
    answers: list[tuple[float, dict]] = []   # (time, answer json) from threads and children
    errors: list[str] = []
    lock = threading.Lock()
    checked_snapshots(pipe, index, seen, problems, lock)
    first_generation = pipe.store.generation_on_disk()
    stop = threading.Event()

    def reader(offset: int) -> None:
        questions = [SEED_QUESTION] + [s.question for s in stories[offset::7]]
        n = 0
        while not stop.is_set():
            try:
                answer = pipe.ask(questions[n % len(questions)], k=2).to_json()
                with lock:
                    answers.append((time.monotonic(), answer))
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            n += 1

    children = Children()
    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(2)]
    try:
        writer = children.start(index, "index", "update", feed, "--json", tmp=tmp_path / "w1",
                                RAG_CHECKPOINT_SECONDS="0")
        wait_for(lambda: f"PID {writer.pid}" in index.holder() or writer.poll() is not None, 60, what="the lock")
        for t in threads:
            t.start()

        # A second writer is refused while the first holds the lock, naming it.
        second = run_rag(index, "index", "update", other, "--json", tmp=tmp_path / "w2", timeout=120)
        assert writer.poll() is None, "the first writer finished too early for the test to mean anything"
        assert second.returncode == 1
        assert f"being updated by PID {writer.pid}" in second.stderr and "Traceback" not in second.stderr

        # Readers in other processes, while the update runs.
        asked_in_children = 0
        while writer.poll() is None and asked_in_children < 2:
            child = run_rag(index, "ask", stories[-1].question, "--json", "--k", "2", tmp=tmp_path / "r",
                            timeout=120)
            assert child.returncode == 0, child.stderr
            with lock:
                answers.append((time.monotonic(), json.loads(child.stdout)))
            asked_in_children += 1

        out, err = writer.communicate(timeout=600)
        assert writer.returncode == 0, err
        report = json.loads(out)
        assert report["added"] == N_NEW and report["chunks_embedded"] == N_NEW
        update_ended = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(timeout=120)
        children.cleanup()

    assert not errors, errors[:3]
    assert not problems, problems[:3]
    during = {a["meta"]["generation"] for t, a in answers if t < update_ended}
    assert len(during) >= 2, f"readers saw only generations {during} during the update"
    assert first_generation in seen and max(seen) > first_generation

    # Every citation resolves to a chunk of the generation its answer came from (children's answers: to the
    # final index — nothing is removed in this update, so every chunk ever cited must still be there as cited).
    final = inspect(index)
    by_id = {cid: key for key, cid in final.ids.items()}
    for _, answer in answers:
        gen = answer["meta"]["generation"]
        for c in answer["citations"] + answer["related"]:
            assert c["chunk_id"] in by_id and by_id[c["chunk_id"]][0] == c["article_id"]
            if gen in seen:
                assert c["chunk_id"] in seen[gen], f"answer from generation {gen} cites chunk {c['chunk_id']}"
    assert len(final.articles) == 2 + N_NEW

    # Once the update has ended, the same Pipeline sees the new articles.
    last = stories[-1]
    answer = pipe.ask(last.question, k=2)
    cited = answer.citations or answer.related
    assert answer.meta["generation"] == final.generation
    assert any(last.marker in c.passage for c in cited)
    pipe.close()


@pytest.mark.parametrize("delay", [0.2, 0.8])
def test_a_writer_killed_from_outside_leaves_no_lock_that_blocks_the_next(tmp_path, seed_backend_index, embedder,
                                                                         delay):
    """kill -9 a writer at a varied moment: the lock file still names the dead PID, but the kernel released the
    flock, so the next update gets in and finishes the job."""
    index = copy_index(seed_backend_index, tmp_path / "index")
    feed = tmp_path / "feed"
    write_stories(feed, [story(i, "k") for i in range(32)])  # one batch: embedding takes seconds
    children = Children()
    try:
        writer = children.start(index, "index", "update", feed, "--json", tmp=tmp_path / "w",
                                RAG_CHECKPOINT_SECONDS="0")
        wait_for(lambda: f"PID {writer.pid}" in index.holder(), 60, what="the writer to take the lock")
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate(timeout=30)
        assert writer.returncode == -9, "the writer ended before it could be killed"
    finally:
        children.cleanup()
    assert f"PID {writer.pid}" in index.holder()   # the stale lock file is still there
    inspect(index)                                   # loadable and consistent right after the kill

    result = cli(index, "index", "update", feed, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["chunks_embedded"] == 32
    final = inspect(index)
    expected = {article_id(a) for a in read_paths([SEED_DIR, feed]) if not isinstance(a, ReadError)}
    assert final.articles == expected and len(final.chunks) == report["chunks"]
    assert leftovers(index) == []
