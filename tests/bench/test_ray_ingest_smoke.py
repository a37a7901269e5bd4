"""bench/ray_ingest.py end to end on 4 made-up articles with a local Ray, so it does not rot."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = pytest.mark.ray


def test_ray_ingest_smoke(tmp_path):
    from bench import ray_ingest

    r = ray_ingest.main(["--smoke", "--out", str(tmp_path)])
    on_disk = json.loads((tmp_path / "ray_ingest-smoke.json").read_text(encoding="utf-8"))
    assert on_disk["smoke"] is True and on_disk["same_index"] is True
    assert r["articles"] == 4 and r["chunks"] >= 4
    assert r["max_vector_difference"] <= 1e-6
    assert r["median_chunks_per_s"]["local"] > 0 and r["median_chunks_per_s"]["ray"] > 0
