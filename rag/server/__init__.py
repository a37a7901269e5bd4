"""`rag serve`: the archive as an HTTP API (OpenAI-compatible chat with citations, search, article ingest).

Imported only by ``rag serve`` (and tests): FastAPI and uvicorn are the optional extra ``serve``, and stay
off the ``rag ask`` fast path.
"""
from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
