"""How long after a file is closed in a watched folder its article is in the index (`rag index watch`, issue #15).

A real `rag index watch` child (inotify, or `--poll`) over a fresh folder; one short Arabic article file at a
time is written and closed, and the time until the published catalog holds it is measured (it includes the
1 s settle time, the folder walk, chunking, embedding one chunk and the commit). Then a file is deleted and the
time until it is gone is measured the same way.

    .venv/bin/python bench/watch_latency.py              # 8 files, inotify
    .venv/bin/python bench/watch_latency.py --poll       # watchdog's PollingObserver instead
    .venv/bin/python bench/watch_latency.py --smoke      # 2 files (CI)
"""
from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, finish, log, parser  # noqa: E402


def _titles(index: Path) -> set[str]:
    db = index / "catalog.sqlite"
    if not db.is_file():
        return set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in conn.execute("SELECT title FROM articles")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def _until(predicate, timeout: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not seen within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--poll", action="store_true", help="watchdog's PollingObserver instead of inotify")
    args = p.parse_args(argv)
    n = 2 if args.smoke else args.files
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    folder, index = work / "news", work / ".rag"
    folder.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")}, "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(ROOT), "RAG_CONFIG": str(work / "none.toml")}
    cmd = [sys.executable, "-m", "rag.cli", "--index", str(index), "index", "watch", str(folder),
           *(["--poll"] if args.poll else [])]
    out = open(work / "watch.out", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    latencies: list[float] = []
    try:
        _until(lambda: " added, " in (work / "watch.out").read_text(encoding="utf-8"), 300)
        for i in range(n):
            title = f"خبر رقم {i} عن افتتاح مكتبة عامة جديدة في الحي {i}"
            (folder / f"a{i}.txt").write_text(f"{title}\nافتتحت البلدية مكتبة عامة جديدة تضم {i + 1000} كتاب.\n",
                                              encoding="utf-8")
            latencies.append(_until(lambda: title in _titles(index), 120))
            log(f"file {i + 1}/{n}: in the index {latencies[-1]:.2f} s after it was closed")
        (folder / "a0.txt").unlink()
        removed = _until(lambda: not any(t.startswith("خبر رقم 0 ") for t in _titles(index)), 120)
        proc.send_signal(signal.SIGINT)
        exit_code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    result = {"mode": "polling" if args.poll else "inotify", "files": n, "settle_seconds": 1.0,
              "seconds_to_indexed": [round(x, 3) for x in latencies],
              "median_seconds_to_indexed": round(statistics.median(latencies), 3),
              "max_seconds_to_indexed": round(max(latencies), 3),
              "seconds_to_removed": round(removed, 3), "exit_code_on_sigint": exit_code,
              "log": (work / "watch.out").read_text(encoding="utf-8").splitlines()[-4:]}
    log(f"median {result['median_seconds_to_indexed']:.2f} s, max {result['max_seconds_to_indexed']:.2f} s to "
        f"indexed; {removed:.2f} s to removed; exit {exit_code} on SIGINT")
    return finish("watch_latency" + ("-poll" if args.poll else ""), result, args)


if __name__ == "__main__":
    main()
