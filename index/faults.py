"""Fault injection for the crash tests: ``RAG_FAULT=<point>[:<n>]`` kills this process with SIGKILL the
n-th time execution reaches ``<point>``. Unset (always, outside those tests) it costs one environment lookup.

Points: ``catalog-created`` (a first build's empty catalog renamed into place), ``embedded`` (after each
embedding batch), ``vectors-written`` (FAISS temp file written, not yet
renamed), ``before-commit`` (FAISS file in place, SQLite not committed), ``after-commit`` (committed, old
files not yet cleaned up).
"""
from __future__ import annotations

import os
import signal

_reached: dict[str, int] = {}


def point(name: str) -> None:
    spec = os.environ.get("RAG_FAULT")
    if not spec:
        return
    want, _, times = spec.partition(":")
    if want != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(times or 1):
        os.kill(os.getpid(), signal.SIGKILL)
