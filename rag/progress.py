"""Progress of long jobs (index builds, ``rag eval``, the UI's uploads): done / total, rate and time left.

On a terminal it is a tqdm bar (redrawn in place, its rate smoothed); anywhere else (a log file, CI, a pipe)
it is one plain line every few seconds plus a last one at the end, because ``\\r``-redrawn bars turn into
megabytes of noise in a log. Always on stderr, so ``--json`` output on stdout stays clean. tqdm is imported
only when a bar is drawn: nothing on the ``rag ask`` path imports this module.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY_SECONDS = 5.0


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 05 min``: a time left, rounded as a person would say it."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def rate_and_eta(done: int, total: int | None, elapsed: float, unit: str) -> str:
    """``3.1 articles/s, about 19 s left`` (what is known of it; empty before the first one is done)."""
    if done <= 0 or elapsed <= 0:
        return ""
    rate = done / elapsed
    text = f"{rate:.1f} {unit}/s" if rate >= 0.95 else f"{elapsed / done:.1f} s per {unit.rstrip('s')}"
    if total is not None and total > done:
        text += f", about {duration((total - done) / rate)} left"
    return text


class Reporter:
    """One job's progress on ``stream`` (stderr): call :meth:`update` as often as you like, then :meth:`close`.

    ``label`` names the job (``indexing``), ``unit`` what is counted (``articles``). ``total`` may be None
    while it is not known yet (the articles are being counted).
    """

    def __init__(self, label: str, unit: str, enabled: bool = True, stream: TextIO | None = None,
                 tty: bool | None = None, every: float | None = None) -> None:
        self.label, self.unit, self.enabled = label, unit, enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = PLAIN_EVERY_SECONDS if every is None else every
        self._bar: Any = None
        self._start = time.monotonic()
        self._started_at: float | None = None   # when the first unit was done: rates exclude counting time
        self._done_at_start = 0
        self._last_line = 0.0
        self._state: tuple[int, int | None, str] | None = None
        self._printed: tuple[int, int | None, str] | None = None

    def update(self, done: int, total: int | None = None, extra: str = "") -> None:
        if not self.enabled:
            return
        if self._started_at is None and total is not None:
            self._started_at, self._done_at_start = time.monotonic(), done
        self._state = (done, total, extra)
        if self.tty:
            self._draw(done, total, extra)
            return
        # the first line that knows the total is shown at once: it is the one that says how long this is
        first = total is not None and (self._printed is None or self._printed[1] is None)
        if first or time.monotonic() - self._last_line >= self.every:
            self._line()

    def line(self) -> str:
        """The plain progress line for the current state."""
        if self._state is None:
            return f"{self.label}: starting"
        done, total, extra = self._state
        if total is None:
            head = f"{self.label}: counting {self.unit}"
        else:
            pct = f" ({100 * done / total:.0f}%)" if total else ""
            head = f"{self.label}: {done}/{total} {self.unit}{pct}"
        elapsed = time.monotonic() - (self._started_at or self._start)
        speed = rate_and_eta(done - self._done_at_start, None if total is None else total - self._done_at_start,
                             elapsed, self.unit)
        return " · ".join(p for p in (head, extra, speed) if p)

    def _line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._last_line = time.monotonic()
        self._printed = self._state

    def _draw(self, done: int, total: int | None, extra: str) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.label, unit=" " + self.unit, file=self.stream,
                             dynamic_ncols=True, leave=True, smoothing=0.1)
        if total is not None and self._bar.total != total:
            self._bar.reset(total=total)   # the count is known now: the rate starts from here
        if done != self._bar.n:
            self._bar.update(done - self._bar.n)
        if extra:
            self._bar.set_postfix_str(extra, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        """The last state, always shown (a plain line unless the last one printed said the same)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._state is not None and self._state != self._printed:
            self._line()
