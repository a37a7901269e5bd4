"""Keep an index current while news files appear, change or disappear in watched folders (``rag index watch``).

File events come from **watchdog** (inotify on Linux; its PollingObserver where inotify is unavailable, e.g.
the watch limit is reached, or on request for network file systems). Events are only hints: they mark the
watched folders dirty, and the update itself is the ordinary incremental ``update_index`` over the watched
folders, so a missed or duplicated event can never make the index wrong, only later.

Debouncing: an update starts only once every file that changed is *settled*, i.e. its size and mtime have
not moved for ``settle`` seconds and no writer still has it open (inotify reports the close), so a file
still being written is never read half-way. One update runs at a time, in this process, under the index's
writer lock; a lock held by another writer (a manual ``rag index update``) just delays the next attempt.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Watcher", "Dirty"]

#: A file reported open for writing but silent this long is taken as settled anyway (a missed close event).
MAX_OPEN_SECONDS = 60.0


@dataclass
class _FileState:
    signature: tuple[int, int] | None   # (size, mtime_ns); None = gone
    since: float                        # when the signature last changed
    writing: bool = False               # modified since the last close event (inotify only)


@dataclass
class Dirty:
    """Changed paths waiting for an update, and whether they have settled.

    Thread-safe: watchdog's observer thread calls :meth:`touch`, the watch loop :meth:`ready`/:meth:`take`."""

    settle: float = 1.0
    files: dict[str, _FileState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @staticmethod
    def _signature(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return st.st_size, st.st_mtime_ns

    def touch(self, path: str, *, writing: bool | None = None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            state = self.files.get(path)
            if state is None:
                state = self.files[path] = _FileState(self._signature(path), now)
            state.since = now
            if writing is not None:
                state.writing = writing

    def ready(self, now: float | None = None) -> bool:
        """True when there is something to do and every changed file has settled."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self.files:
                return False
            settled = True
            for path, state in self.files.items():
                signature = self._signature(path)
                if signature != state.signature:
                    state.signature, state.since = signature, now
                quiet = now - state.since
                if quiet < self.settle or (state.writing and signature is not None and quiet < MAX_OPEN_SECONDS):
                    settled = False
            return settled

    def take(self) -> list[str]:
        with self._lock:
            paths, self.files = sorted(self.files), {}
            return paths

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self.files)


class _Handler:
    """watchdog event handler: every event under a watched folder marks its path(s) dirty."""

    def __init__(self, dirty: Dirty, ignore: Callable[[str], bool]) -> None:
        self.dirty = dirty
        self.ignore = ignore
        self.closes = True  # the observer reports closes (inotify); a polling one never does

    def dispatch(self, event: Any) -> None:
        kind = event.event_type  # created, modified, moved, deleted, closed, closed_no_write, opened
        if kind in ("opened", "closed_no_write"):
            return
        paths = [os.fsdecode(event.src_path)]
        if getattr(event, "dest_path", ""):
            paths.append(os.fsdecode(event.dest_path))
        for p in paths:
            if self.ignore(p):
                continue
            if event.is_directory:
                self.dirty.touch(p)
            else:
                self.dirty.touch(p, writing={"closed": False, "created": True, "modified": True}.get(kind, False)
                                 if self.closes else None)


def _hidden_or_index(index_dir: Path) -> Callable[[str], bool]:
    """Paths whose events are noise: hidden files (editor swap files, .ragignore is re-read anyway) and the
    index's own folder, which an update writes to (watching it would trigger update after update)."""
    index_dir = index_dir.resolve().as_posix().rstrip("/") + "/"

    def ignore(path: str) -> bool:
        return Path(path).name.startswith(".") and Path(path).name != ".ragignore" or \
            (Path(path).resolve().as_posix() + "/").startswith(index_dir)

    return ignore


class Watcher:
    """Watch ``folders``; call ``update(stop)`` once at start and again whenever changes have settled.

    ``update`` does the work and the logging (the CLI prints one line per run); its exceptions for a locked
    index are the caller's to turn into "try again" by returning False. :meth:`run` returns when ``stop``
    is set (the CLI sets it on SIGINT/SIGTERM).
    """

    def __init__(self, folders: Iterable[Path], index_dir: Path, update: Callable[[Callable[[], bool]], bool],
                 *, settle: float = 1.0, poll: bool = False, log: Callable[[str], None] = print,
                 tick: float = 0.2) -> None:
        self.folders = [Path(f).expanduser().resolve() for f in folders]
        for f in self.folders:
            if not f.is_dir():
                raise ValueError(f"cannot watch {f}: not a folder")
        self.update = update
        self.dirty = Dirty(settle)
        self.stop = threading.Event()
        self.log = log
        self.tick = tick
        self._ignore = _hidden_or_index(Path(index_dir).expanduser())
        self.observer = self._observer(poll)

    def _observer(self, poll: bool) -> Any:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        handler = _Handler(self.dirty, self._ignore)
        if not poll:
            observer = Observer()
            try:
                for f in self.folders:
                    observer.schedule(handler, str(f), recursive=True)
                observer.start()
                self.mode = "inotify" if "inotify" in type(observer).__name__.lower() else type(observer).__name__
                handler.closes = self.mode == "inotify"
                return observer
            except OSError as e:  # inotify watch/instance limit reached: poll instead
                self.log(f"file events unavailable ({e.strerror or e}); polling every second instead")
                try:
                    observer.stop()
                except Exception:  # noqa: BLE001 - it may never have started
                    pass
        handler.closes = False  # polling sees sizes and mtimes only: the settle time alone debounces
        observer = PollingObserver(timeout=1)
        for f in self.folders:
            observer.schedule(handler, str(f), recursive=True)
        observer.start()
        self.mode = "polling"
        return observer

    def run(self, retry_seconds: float = 2.0) -> None:
        """Update now (changes made while nobody watched), then on every settled change until stopped.
        An update that could not run (another writer holds the lock) is retried every ``retry_seconds``."""
        try:
            pending = not self.update(self.stop.is_set)
            tried = time.monotonic()
            while not self.stop.is_set():
                self.stop.wait(self.tick)
                if self.stop.is_set():
                    break
                retry = pending and time.monotonic() - tried >= retry_seconds
                if (retry and not self.dirty) or self.dirty.ready():
                    self.dirty.take()
                    pending = not self.update(self.stop.is_set)
                    tried = time.monotonic()
        finally:
            self.observer.stop()
            self.observer.join(timeout=5)
