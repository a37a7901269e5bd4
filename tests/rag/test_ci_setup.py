""".ci/setup: `--runtime` (what .ci/start uses) installs the project alone — no torch, test or bench extras —
and pip runs only when pyproject.toml (or the script) changed since that profile was installed; the full
profile (.ci/run) still installs everything after a runtime-only venv, and also serves the runtime one.
The script runs for real on a copy of the repository files it reads; only pip is a recorder."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def fake_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "setup", repo / ".ci" / "setup")
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    bin_ = repo / ".venv" / "bin"
    bin_.mkdir(parents=True)
    for name, body in (("python", "exit 0"), ("rag", "exit 0"),
                       ("pip", f'echo "$*" >> {tmp_path / "pip.log"}')):
        script = bin_ / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return repo


def setup(repo: Path, *args: str) -> list[str]:
    """Run the script; return the pip commands it ran this time."""
    log = repo.parent / "pip.log"
    before = log.read_text().splitlines() if log.exists() else []
    proc = subprocess.run(["bash", str(repo / ".ci" / "setup"), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PATH": os.environ["PATH"]})
    assert proc.returncode == 0, proc.stderr
    after = log.read_text().splitlines() if log.exists() else []
    return after[len(before):]


def test_runtime_profile_installs_only_the_project_and_skips_pip_when_nothing_changed(tmp_path):
    repo = fake_repo(tmp_path)
    first = setup(repo, "--runtime")
    assert first == ["install -q -e ."]                     # no torch, no [test,st,llm,bench]
    assert setup(repo, "--runtime") == []                   # the stamp matches: pip is not run at all
    # .ci/run after .ci/start: the runtime stamp does not satisfy the full profile
    full = setup(repo)
    assert full == ["install -q torch==2.13.0", "install -q -e .[test,st,llm,bench,serve,server,ray]"]
    assert setup(repo) == [] and setup(repo, "--runtime") == []   # a full install serves both
    # pyproject.toml changed: each profile installs again, once
    with open(repo / "pyproject.toml", "a", encoding="utf-8") as fh:
        fh.write("\n# changed\n")
    assert setup(repo, "--runtime") == ["install -q -e ."]
    assert setup(repo, "--runtime") == []
    assert setup(repo) == ["install -q torch==2.13.0", "install -q -e .[test,st,llm,bench,serve,server,ray]"]


def test_start_uses_the_runtime_profile_and_run_the_full_one():
    start = (ROOT / ".ci" / "start").read_text()
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/setup --runtime" in start
    assert "bash .ci/setup --browser" in run
