"""`rag index watch` as a real child process over a real folder (inotify, real embedder, FAISS, SQLite).

One watcher serves the whole scenario (each child pays the model load): a dropped file becomes answerable, a
bad file is reported and skipped, a file written in two halves with a pause longer than the settle time is
read whole, a deleted file leaves the index, and SIGINT stops the watcher with exit status 0."""
from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from index.watch import Dirty
from tests.robustness.helpers import ask_json, rag_cmd, rag_env, wait_for

A_TITLE = "افتتاح محطة تحلية مياه جديدة في المدينة الساحلية"
A_BODY = "افتتحت وزارة المياه محطة تحلية جديدة تنتج مئة ألف متر مكعب يوميا لسكان المدينة الساحلية."
B_TITLE = "فريق الجامعة يفوز بمسابقة الروبوتات الإقليمية"
B_FIRST = "فاز فريق كلية الهندسة بالمركز الأول في مسابقة الروبوتات الإقليمية بعد منافسة مع اثني عشر فريقا."
B_SECOND = "وصمم الطلاب روبوتا يفرز النفايات القابلة لإعادة التدوير بدقة عالية خلال ثوان."


def articles(index: Path) -> dict[str, str]:
    """title → text in the published catalog (read-only; the watcher may be writing)."""
    db = index / "catalog.sqlite"
    if not db.is_file():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT title, text FROM articles"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def test_dirty_waits_for_stable_size_and_for_close(tmp_path):
    """The debounce on its own: a file is settled only after `settle` quiet seconds and its writer's close."""
    f = tmp_path / "a.txt"
    f.write_text("x", encoding="utf-8")
    dirty = Dirty(settle=1.0)
    dirty.touch(str(f), writing=True, now=100.0)
    assert not dirty.ready(now=100.5)
    assert not dirty.ready(now=103.0)            # quiet for 3 s, but still open for writing
    dirty.touch(str(f), writing=False, now=103.0)  # closed
    assert not dirty.ready(now=103.5) and dirty.ready(now=104.1)
    f.write_text("xy", encoding="utf-8")          # grew after the last event: the clock starts again
    assert not dirty.ready(now=104.2) and dirty.ready(now=105.3)
    assert dirty.take() == [str(f)] and not dirty


def test_watch_keeps_the_index_current(tmp_path):
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "old.txt").write_text("خبر قديم عن الطقس\nكان الطقس معتدلا طوال الأسبوع الماضي.\n", encoding="utf-8")
    index = tmp_path / ".rag"
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    with open(out, "w") as fo, open(err, "w") as fe:
        proc = subprocess.Popen(rag_cmd(index, "index", "watch", folder, "--settle", "1"), cwd=tmp_path,
                                env=rag_env(tmp_path, PYTHONUNBUFFERED="1"), stdout=fo, stderr=fe, text=True)
    try:
        wait_for(lambda: "خبر قديم عن الطقس" in articles(index), 180, what="the first update")

        (folder / "bad.json").write_text('{"title": "x", "text": ', encoding="utf-8")
        (folder / "a.txt").write_text(f"{A_TITLE}\n{A_BODY}\n", encoding="utf-8")
        closed = time.monotonic()
        wait_for(lambda: A_TITLE in articles(index), 90, what="the dropped file in the index")
        latency = time.monotonic() - closed
        assert latency < 60, latency
        wait_for(lambda: "bad.json" in err.read_text(encoding="utf-8"), 10, what="the bad file reported")
        assert "not valid JSON" in err.read_text(encoding="utf-8")

        with open(folder / "b.txt", "w", encoding="utf-8") as f:  # written in two halves, 2.5 s apart
            f.write(f"{B_TITLE}\n{B_FIRST}\n")
            f.flush()
            time.sleep(2.5)
            f.write(f"{B_SECOND}\n")
        wait_for(lambda: B_TITLE in articles(index), 90, what="the two-part file in the index")
        assert articles(index)[B_TITLE] == f"{B_FIRST}\n{B_SECOND}"

        (folder / "a.txt").unlink()
        wait_for(lambda: A_TITLE not in articles(index), 60, what="the deleted file to leave the index")

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = out.read_text(encoding="utf-8").splitlines()
    assert log[0].split(" ", 1)[1].startswith("watching") and log[-1].endswith(" stopped")
    updates = [line for line in log[1:-1] if " added, " in line]
    assert all(" 0 changed," in line for line in updates), log  # b.txt was never stored half-written
    errors = err.read_text(encoding="utf-8")
    assert "Traceback" not in errors and errors.count("bad.json") == 1, errors  # reported once, not per update
    answer = ask_json(index, "من فاز بالمركز الأول في مسابقة الروبوتات الإقليمية؟")
    assert not answer["refused"] and any(c["title"] == B_TITLE for c in answer["citations"]), answer


def test_polling_fallback_and_sigterm(tmp_path):
    """--poll (watchdog's PollingObserver, what is used where inotify is unavailable) and a clean SIGTERM."""
    folder = tmp_path / "news"
    folder.mkdir()
    index = tmp_path / ".rag"
    out = tmp_path / "watch.out"
    with open(out, "w") as fo:
        proc = subprocess.Popen(rag_cmd(index, "index", "watch", folder, "--poll"), cwd=tmp_path,
                                env=rag_env(tmp_path, PYTHONUNBUFFERED="1"), stdout=fo, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: " added, " in out.read_text(encoding="utf-8"), 180, what="the first update")
        (folder / "a.txt").write_text(f"{A_TITLE}\n{A_BODY}\n", encoding="utf-8")
        # polling sees no close events: the settle time alone debounces (no wait for a close that never comes)
        wait_for(lambda: A_TITLE in articles(index), 30, what="the dropped file in the index")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "(polling)" in out.read_text(encoding="utf-8").splitlines()[0]
