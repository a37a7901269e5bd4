"""bench/extraction.py and bench/watch_latency.py end to end on tiny data (no shared data needed), so they do not rot."""
from __future__ import annotations

import json


def test_extraction_smoke(tmp_path):
    from bench import extraction

    r = extraction.main(["--smoke", "--out", str(tmp_path)])
    on_disk = json.loads((tmp_path / "extraction-smoke.json").read_text(encoding="utf-8"))
    assert on_disk["smoke"] is True and on_disk["command"]
    assert r["before"]["pages"] == r["after"]["pages"] == 3
    for side in ("before", "after"):
        assert 0 < r[side]["micro"]["precision"] <= 1 and 0 < r[side]["micro"]["recall"] <= 1
    assert all(p["extractor"] == "bs4" for p in r["before"]["per_page"].values())


def test_watch_latency_smoke(tmp_path):
    from bench import watch_latency

    r = watch_latency.main(["--smoke", "--out", str(tmp_path)])
    assert (tmp_path / "watch_latency-smoke.json").is_file()
    assert r["files"] == len(r["seconds_to_indexed"]) == 2 and r["exit_code_on_sigint"] == 0
