"""The repository itself: what a hand merge can leave behind.

A merge resolved by hand once left ``<<<<<<<``/``>>>>>>>`` blocks in bench/README.md on main; nothing read
that file, so every test stayed green. Text files are checked here so a half-resolved merge fails CI.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".sh", ".html", ".css", ".js"}
SKIP = {".git", ".venv", ".rag-eval", "node_modules", "__pycache__", "out", ".pytest_cache"}
#: A conflict marker is seven of <, = or > at the start of a line, < and > followed by a space or the end.
MARKER = re.compile(r"^(<{7}( |$)|>{7}( |$)|={7}$)", re.M)


def _text_files() -> list[Path]:
    out = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP]
        out += [Path(folder, n) for n in names if Path(n).suffix in TEXT or n in {"run", "setup"}]
    return out


def test_no_merge_conflict_markers() -> None:
    files = _text_files()
    assert any(p.name == "README.md" for p in files)   # the walk sees the files it is meant to
    found = [f"{p.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
             for p in files for text in [p.read_text(encoding="utf-8", errors="replace")]
             for m in MARKER.finditer(text)]
    assert not found, f"merge conflict markers left in: {', '.join(found)}"
