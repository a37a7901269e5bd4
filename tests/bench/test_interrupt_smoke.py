"""bench/interrupt.py does not rot: one short run stops a first build with SIGINT and reports what was kept."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def test_interrupt_smoke(tmp_path):
    out = tmp_path / "interrupt.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "interrupt.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(out.read_text())["runs"]
    assert run["exit"] == 130 and run["kept"] is not None
