"""bench/server_backend.py end to end on tiny data (its --smoke), so the script does not rot: it starts its own
servers, migrates a 2-paragraph XQuAD-ar index and compares the backends. Figures come from the full run."""
from __future__ import annotations

import json

import pytest

from bench.common import data_dir

pytestmark = pytest.mark.skipif(data_dir() is None, reason="shared/data (XQuAD-ar) not found")


def test_server_backend_bench_smoke(tmp_path):
    from bench import server_backend

    r = server_backend.main(["--smoke", "--out", str(tmp_path)])
    on_disk = json.loads((tmp_path / "server_backend-smoke.json").read_text(encoding="utf-8"))
    assert on_disk["smoke"] is True and r["questions"] == 20
    assert r["migrate"]["chunks"] > 0
    assert set(r["latency"]) == {"local", "server"} and r["latency"]["server"]["n"] == 20
    # the same index behind both backends: the same ranks (a tiny index has no near-ties to reorder)
    assert r["same_rank_share"] == {"keyword": 1.0, "dense": 1.0, "hybrid": 1.0} and r["max_diff_points"] == 0
