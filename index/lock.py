"""One writer at a time, with a lock the kernel releases when the writer dies.

``flock`` is tied to the open file: a writer killed with SIGKILL releases it automatically, so a stale
lock can never block the next update; the PID written inside is only for the message a second writer sees.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path


class IndexLocked(RuntimeError):
    """Another process is writing this index."""


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
            holder = fh.read().strip() or "another process"
            fh.close()
            raise IndexLocked(f"the index at {self.path.parent} is being updated by {holder}; "
                              "wait for it to finish, then run the command again") from None
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
