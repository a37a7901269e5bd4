"""Adding articles from the page: save uploads safely, build pasted articles, update the index off-thread.

Why here and not in app.py: these are the parts with security and concurrency rules (an upload's name is
attacker-controlled; the index update must not block the chat), and they are testable without Streamlit.
No indexing logic lives here: it is :func:`index.update.update_index`, exactly what ``rag index update``
runs.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from index.articles import GZIP_SUFFIX, SUPPORTED_SUFFIXES, Article, file_type
from index.backend import Backend
from index.embedders import Embedder
from index.update import Progress, UpdateReport, update_index
from rag.config import Settings

#: Longest file-name stem kept (characters): Arabic letters are 2 bytes in UTF-8 and names stop at 255.
MAX_STEM = 80
_KEEP_PUNCT = set(" -_()")


class UploadRejected(ValueError):
    """An upload refused before it is saved (type, size, empty); the message names the file and the rule."""


def uploads_dir(index_dir: Path) -> Path:
    """Where uploads are kept: beside the index (Settings.uploads_dir), so a copied index folder keeps them."""
    return Settings(index_dir=Path(index_dir)).uploads_dir


def safe_filename(name: str) -> str:
    """A file name that cannot leave the upload folder, keeping Arabic letters and spaces.

    Browsers send a bare name, but nothing forces a client to: ``../../etc/x.txt``, ``C:\\x\\y.txt``, NUL
    bytes, ``..``, hidden names and bidi controls (which make ``txt.exe`` look like ``exe.txt``) are all
    possible. Only the last path component survives; only letters, marks, digits, spaces and ``-_()`` are
    kept; runs of dots collapse and leading dots go, so the result is never ``.``, ``..`` or hidden.
    """
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").split("/")[-1]
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    inner_stem, inner_dot, inner = stem.rpartition(".")
    if "." + suffix.lower() == GZIP_SUFFIX and inner_dot and "." + inner.lower() in SUPPORTED_SUFFIXES:
        stem, suffix = inner_stem, f"{inner}.gz"   # feed.jsonl.gz keeps both: the reader needs the inner type

    def clean(part: str) -> str:
        kept = "".join(c if unicodedata.category(c)[0] in "LMN" or c in _KEEP_PUNCT else "_"
                       for c in part if c.isprintable())
        return " ".join(kept.split()).strip(" _-")

    stem = clean(stem.replace(".", " "))[:MAX_STEM].strip(" _-") or "upload"
    suffix = ".".join(p for p in map(clean, suffix.lower().split(".")) if p)
    return f"{stem}.{suffix}" if suffix else stem


def _split(name: str) -> tuple[str, str]:
    """(stem, suffix) of a safe name, the suffix compound for a compressed file: ``feed``, ``.jsonl.gz``."""
    suffix = file_type(name) + (GZIP_SUFFIX if name.lower().endswith(GZIP_SUFFIX) else "")
    if not name.lower().endswith(suffix):  # an unsupported compound: take the last suffix only
        suffix = Path(name).suffix
    return name[: len(name) - len(suffix)], suffix.lower()


def check_upload(name: str, size: int, max_mb: int) -> None:
    """Refuse what the reader would refuse anyway, before writing anything: wrong type, over the limit."""
    safe = safe_filename(name)
    if file_type(safe) not in SUPPORTED_SUFFIXES:
        suffix = _split(safe)[1]
        raise UploadRejected(f"{name}: unsupported file type '{suffix or '(none)'}' "
                             f"(supported: {', '.join(SUPPORTED_SUFFIXES)}, each also as .gz)")
    if size > max_mb * 1024 * 1024:
        raise UploadRejected(f"{name}: the file is {size / 1024 / 1024:.1f} MiB, over the {max_mb} MiB "
                             "upload limit")
    if size == 0:
        raise UploadRejected(f"{name}: the file is empty")


def save_upload(folder: Path, name: str, data: bytes, max_mb: int) -> Path:
    """Write an upload into ``folder`` under a sanitized, content-stamped name and return its path.

    The short content hash in the name means two different files called ``news.txt`` both stay (no silent
    replacement), while uploading the very same file again lands on the same path and so costs the index
    nothing. The write goes to a hidden temporary file first and is renamed into place: readers never see
    half a file, and a symlink planted at the target name is replaced, not followed.
    """
    check_upload(name, len(data), max_mb)
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = _split(safe_filename(name))
    digest = hashlib.sha256(data).hexdigest()[:10]
    target = folder / f"{stem}-{digest}{suffix}"
    if target.parent != folder or not target.name or target.name.startswith("."):
        raise UploadRejected(f"{name}: not an acceptable file name")  # unreachable by construction
    tmp = folder / f".{digest}-{uuid.uuid4().hex}.part"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def pasted_article(folder: Path, title: str, text: str, date: str | None = None,
                   source: str | None = None) -> Article:
    """An article typed or pasted into the page. Its origin is its content hash, so pasting the same
    article twice stores it once, and the path is a fixed name in the upload folder (no file is written:
    the text lives in the index like any other article's)."""
    text = "\n".join(line.rstrip() for line in (text or "").replace("\r\n", "\n").replace("\r", "\n")
                     .split("\n")).strip()
    if not text:
        raise UploadRejected("the article has no text")
    title = " ".join((title or "").split()) or " ".join(text.split("\n", 1)[0].split())[:120]
    draft = Article("", title, text, date or None, " ".join((source or "").split()) or None, None,
                    str(Path(folder).resolve() / "pasted"), 0)
    return replace(draft, origin_id=f"pasted:{draft.content_hash[:20]}")


@dataclass
class UpdateJob:
    """One index update running in a background thread, watched by the page.

    The thread only writes plain attributes here; the page reads them on its own reruns. Streamlit calls
    never happen off the script thread.
    """

    names: dict[str, str]                        # resolved saved path → the name the user uploaded
    rejected: list[str] = field(default_factory=list)
    files_done: int = 0
    files_total: int = 0
    articles_done: int = 0
    articles_total: int | None = None            # None while the files' articles are being counted
    chunks_embedded: int = 0
    current: str = ""
    counted_at: float | None = None              # when the total was known: the rate is measured from there
    report: UpdateReport | None = None
    failure: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    shown: bool = False                          # the page has shown the outcome after completion
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def on_progress(self, p: Progress) -> None:
        self.files_done, self.files_total = p.files_done, p.files_total
        self.chunks_embedded, self.current = p.chunks_embedded, p.current
        if p.articles_total is not None and self.counted_at is None:
            self.counted_at = time.monotonic()
        self.articles_done, self.articles_total = p.articles_done, p.articles_total

    def fraction(self) -> float:
        if self.finished is not None:
            return 1.0
        if self.articles_total:
            return min(0.99, 0.02 + 0.97 * self.articles_done / self.articles_total)
        return 0.02

    def describe(self) -> str:
        """``12/100 articles · 30 passages embedded · 2.1 articles/s, about 42 s left``: articles are what a
        user uploaded, and one file can hold thousands of them."""
        from rag.progress import rate_and_eta

        if self.articles_total is None:
            files = f" in {self.files_total} file{'s' if self.files_total != 1 else ''}" if self.files_total else ""
            return f"counting the articles{files}…"
        elapsed = time.monotonic() - (self.counted_at or self.started)
        parts = [f"{self.articles_done}/{self.articles_total} articles",
                 f"{self.chunks_embedded} passage{'s' if self.chunks_embedded != 1 else ''} embedded",
                 rate_and_eta(self.articles_done, self.articles_total, elapsed, "articles")]
        return " · ".join(p for p in parts if p)

    def problems(self) -> list[str]:
        """Everything that did not go in, one plain sentence each, named by the uploaded file."""
        out = list(self.rejected)
        if self.failure:
            out.append(self.failure)
        for e in self.report.errors if self.report else []:
            name = self.names.get(e.path, Path(e.path).name)
            out.append(f"{name}: {e.message}" + (f" (line {e.line})" if e.line else ""))
        return out

    def summary(self) -> str:
        r = self.report
        if r is None:
            return ""
        return (f"{r.added} added, {r.changed} changed, {r.unchanged} already in the archive; "
                f"now {r.articles} articles ({r.seconds:.1f} s)")


def start_update(index: Backend | Path, paths: Sequence[Path], embedder: Embedder, embedder_spec: str, *,
                 articles: Sequence[Article] | None = None, names: dict[str, str] | None = None,
                 rejected: Sequence[str] = ()) -> UpdateJob:
    """Run ``update_index`` on ``index`` (a Backend, or an index folder) in a daemon thread and return the job
    to watch. The chat keeps answering
    meanwhile: the update writes through its own connection, and the pipeline's Store picks up the new
    generation at the next question."""
    job = UpdateJob(names=dict(names or {}), rejected=list(rejected))

    def run() -> None:
        from index.lock import IndexLocked
        from index.backend import EmbedderMismatch, IndexInvalid

        try:
            job.report = update_index(index, list(paths), embedder, embedder_spec,
                                      progress=job.on_progress, articles=articles)
        except IndexLocked as exc:   # its message names the other writer and what to do
            job.failure = str(exc)
        except (EmbedderMismatch, IndexInvalid, ValueError) as exc:
            job.failure = str(exc)
        except OSError as exc:
            job.failure = f"could not write the index: {exc.strerror or exc}; the archive is unchanged"
        except Exception as exc:  # noqa: BLE001 - the page must show it; a dead thread would hide it
            job.failure = f"the update failed ({type(exc).__name__}: {exc}); the archive is unchanged"
        finally:
            job.finished = time.monotonic()

    job.thread = threading.Thread(target=run, name="rag-index-update", daemon=True)
    job.thread.start()
    return job
