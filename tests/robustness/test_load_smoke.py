"""Must-hold 6 (smoke): bench/load.py runs concurrent question streams against one shared Pipeline without
errors. The real measurement (8 threads × 60 s) is run by hand; see bench/load.py."""
from __future__ import annotations

import json
import subprocess
import sys

from .helpers import ROOT, SEED_QUESTION, rag_env


def test_load_smoke_two_streams_three_seconds(tmp_path, seed_index):
    args = [sys.executable, str(ROOT / "bench" / "load.py"), "--index", str(seed_index), "--threads", "2",
            "--seconds", "3", "--json"]
    xquad = ROOT.parent / "shared" / "data" / "xquad-ar" / "xquad.ar.json"
    if not xquad.is_file():   # the default question set is not on this machine: ask the seed's question
        (tmp_path / "q.json").write_text(json.dumps([SEED_QUESTION], ensure_ascii=False), encoding="utf-8")
        args += ["--questions", str(tmp_path / "q.json")]
    done = subprocess.run(args, cwd=tmp_path, env=rag_env(tmp_path), check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["errors"] == 0, result["error_samples"]
    assert result["answers"] > 0 and result["threads"] == 2
    assert result["latency_p50"] > 0 and result["answers_per_second"] > 0
