"""bench/serve_load.py --smoke: `rag serve` under concurrent streamed clients, end to end (seconds, tiny index).
The figures come from the full run (README, "HTTP API"); here only that the script runs and every stream
completes with its final chunk."""
from __future__ import annotations

import json

from bench import serve_load


def test_serve_load_smoke(capsys):
    code = serve_load.main(["--smoke", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result["error_samples"]
    assert result["smoke"] is True and result["streams"] == 2
    assert result["answers"] > 0 and result["errors"] == 0 and result["server_tracebacks"] == 0
    assert 0 < result["first_chunk_p50"] <= result["latency_p95"]
