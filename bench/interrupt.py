"""How fast Ctrl-C stops a first build, and what it keeps (issue #13, item 2).

Each run writes N generated one-chunk Arabic articles, starts the real ``rag index build`` in a child process,
waits until its catalog exists and then ``--after`` seconds more, sends SIGINT and measures the time until the
process has exited (the stop request, the engine call under way, the commit, interpreter exit). Before the
fix, SIGINT was seen only when the engine call under way returned and the whole first build was lost.

    .venv/bin/python bench/interrupt.py [--articles 120] [--after 5] [--runs 3] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.robustness.helpers import rag_cmd, rag_env, story, write_stories  # noqa: E402


def one_run(work: Path, articles: int, after: float) -> dict:
    news, index = work / "news", work / "index"
    write_stories(news, [story(i, "l") for i in range(articles)])
    proc = subprocess.Popen(rag_cmd(index, "index", "build", news), cwd=work, env=rag_env(work),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (index / "catalog.sqlite").is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(after)
    if proc.poll() is not None:
        raise SystemExit(f"the build ended before it was interrupted; use more --articles ({proc.stderr.read()})")
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=300)
    stopped = time.monotonic() - sent
    kept = re.search(r"kept (\d+) articles?", err)
    return {"seconds_to_stop": round(stopped, 2), "exit": proc.returncode,
            "kept": int(kept.group(1)) if kept else None, "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=120)
    ap.add_argument("--after", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="one short run (CI)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "interrupt.json")
    args = ap.parse_args()
    if args.smoke:
        args.articles, args.after, args.runs = 400, 1.0, 1   # enough that an idle machine is still embedding
    runs = []
    for _ in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="rag-interrupt-"))
        try:
            runs.append(one_run(work, args.articles, args.after))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(runs[-1]), flush=True)
    times = [r["seconds_to_stop"] for r in runs]
    summary = {"command": " ".join(sys.argv), "articles": args.articles, "after": args.after, "runs": runs,
               "median_seconds_to_stop": statistics.median(times), "max_seconds_to_stop": max(times)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"stopped in {statistics.median(times):.2f} s median, {max(times):.2f} s max over {len(runs)} runs "
          f"(exit {sorted({r['exit'] for r in runs})}, kept {[r['kept'] for r in runs]})")


if __name__ == "__main__":
    main()
