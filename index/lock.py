"""One writer at a time, with a lock the kernel releases when the writer dies.

``flock`` is tied to the open file: a writer killed with SIGKILL releases it automatically, so a stale
lock can never block the next update; the PID written inside is only for the message a second writer sees.
"""
from __future__ import annotations

import fcntl
import os
import re
import time
from pathlib import Path


class IndexLocked(RuntimeError):
    """Another process is writing this index."""


def holder(folder: Path) -> str | None:
    """"PID … (since …)" of the writer now holding the index at ``folder``, or None when none does.

    Readers call this to explain a first build in progress. It only reads the lock file and asks the kernel
    whether that PID is alive, so it can never block (or be mistaken for) a writer: taking the flock even
    briefly would make a writer starting at that instant refuse to run. A writer that died keeps its text in
    the file until the next writer truncates it, hence the liveness check.
    """
    try:
        text = (Path(folder) / "write.lock").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    match = re.match(r"PID (\d+)", text)
    if not match:
        return None
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return text


def locked_message(folder: Path, writer: str) -> str:
    """What a second writer is told: the same words whether the index exists yet or is being built."""
    return f"the index at {folder} is being updated by {writer}; wait for it to finish, then run the command again"


class WriterLock:
    def __init__(self, folder: Path) -> None:
        self.path = folder / "write.lock"
        self._fh = None

    def acquire(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip() or "another process"
            fh.close()
            raise IndexLocked(locked_message(self.path.parent, text)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"PID {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "WriterLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
