"""Folder walks through `rag index build/update` (gzip, skipped types, .ragignore, --exclude) and the
progress they print when stderr is not a terminal. Real embedder, FAISS and SQLite; tiny articles."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

from rag.cli import main


def run(index: Path, *args: str):
    return CliRunner().invoke(main, ["--index", str(index), *args], catch_exceptions=False)


def archive(root: Path) -> Path:
    """3 readable articles (one .txt, two in a .jsonl.gz), 3 unsupported files, 1 ignored folder."""
    (root / "drafts").mkdir(parents=True)
    (root / "a.txt").write_text("خبر أول\nانعقد المؤتمر في القاهرة.\n", encoding="utf-8")
    lines = [json.dumps({"id": f"feed-{i}", "title": f"خبر {i}", "text": f"ارتفعت الأسعار في المدينة {i}.",
                         "source": "الأهرام"}, ensure_ascii=False) for i in range(2)]
    (root / "feed.jsonl.gz").write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    for name in ("x.pdf", "y.pdf", "notes.docx"):
        (root / name).write_bytes(b"%binary")
    (root / "drafts" / "d.txt").write_text("مسودة\nلا تنشر.\n", encoding="utf-8")
    (root / ".ragignore").write_text("drafts/\n", encoding="utf-8")
    return root


def test_build_reads_gzip_reports_skipped_types_and_progress_lines(tmp_path):
    root = archive(tmp_path / "news")
    result = run(tmp_path / ".rag", "index", "build", str(root), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == 3 and report["articles"] == 3
    assert report["skipped_types"] == {".docx": 1, ".pdf": 2} and report["excluded"] == 1
    assert "not indexed: skipped by type: .pdf: 2, .docx: 1; 1 file/folder excluded by .ragignore/--exclude" in result.stderr
    # stderr is not a terminal here: plain lines with articles done / total, no \r-drawn bar
    lines = [x for x in result.stderr.splitlines() if x.startswith("indexing:")]
    assert lines and "\r" not in result.stderr
    assert lines[-1].startswith("indexing: 3/3 articles (100%)") and "chunks embedded" in lines[-1]


def test_excluded_files_leave_the_index_on_update_of_their_folder(tmp_path):
    root, index = archive(tmp_path / "news"), tmp_path / ".rag"
    assert run(index, "index", "build", str(root), "-q").exit_code == 0
    result = run(index, "index", "update", str(root), "--exclude", "*.gz", "--json", "-q")
    report = json.loads(result.stdout)
    assert report["removed"] == 2 and report["articles"] == 1 and report["excluded"] == 2  # drafts/ + the gz
    # un-excluding brings them back (embedded again: they had left the index)
    report = json.loads(run(index, "index", "update", str(root), "--json", "-q").stdout)
    assert report["added"] == 2 and report["articles"] == 3


def test_quiet_prints_no_progress(tmp_path):
    root = archive(tmp_path / "news")
    result = run(tmp_path / ".rag", "index", "build", str(root), "-q")
    assert result.exit_code == 0 and "indexing:" not in result.stderr
