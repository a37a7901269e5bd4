"""Entry point of the `server` backend for the registry (index/backend.py: ``index.server_backend:ServerBackend``).

The code is in index/server/ (one module per engine); this module only re-exports it, so that choosing the
backend by name imports PostgreSQL's and Milvus's clients and nothing else does.
"""
from __future__ import annotations

from .server.backend import ServerBackend, ServerReader, ServerSnapshot, ServerWriter

__all__ = ["ServerBackend", "ServerReader", "ServerSnapshot", "ServerWriter"]
