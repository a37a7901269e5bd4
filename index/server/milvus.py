"""The server backend's search copy in Milvus: every pymilvus call of the server backend is in this module.

One collection per index generation line (its name is recorded in the PostgreSQL catalog, so the catalog
says which collection a generation's vectors are in): primary key = the chunk id (a deterministic 64-bit
hash of article id + ordinal, index.backend.chunk_id), the normalized float32 vector (inner product, HNSW),
the filter fields (``date`` "" when undated, ``source`` "" when none, ``article_id``) and ``terms`` — the
project's own ``index.arabic.keyword_terms()`` output, pre-analyzed and space-joined (title terms, then body
terms) — feeding Milvus's BM25 function into a sparse field, so a cluster indexes exactly today's terms.
Milvus Lite has no Arabic analyzer (nor a whitespace tokenizer: its ``standard`` one is used; it keeps
stemmed Arabic terms whole). Retrieval does *not* rank by Milvus's BM25 (see index/server/backend.py):
the field is there so that a cluster-side keyword search needs no reindexing.

Milvus Lite quirks met here: BM25 distances come back negated and its statistics are per segment; searches
are slow (150–300 ms) until ``flush()`` seals the segment, so the writer flushes after each commit; one
process per data dir, so the tests (and a shared UI + CLI) run ``milvus-lite server`` on 127.0.0.1.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import numpy as np

from ..backend import Filters, IndexInvalid

try:  # the `server` extra
    from pymilvus import DataType, Function, FunctionType, MilvusClient
    from pymilvus.exceptions import MilvusException
except ImportError as _exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"the server backend needs pymilvus (pip install -e '.[server]'): {_exc}") from _exc

#: Upserts are sent in batches of this many rows (one gRPC message stays well under Milvus's 64 MiB limit).
UPSERT_BATCH = 500
TERMS_MAX = 65535
#: HNSW build and search parameters: ef well above k keeps recall at the exact search's level on the dev sets
#: (bench/server_backend.py compares with the local exact FAISS search).
HNSW = {"M": 16, "efConstruction": 200}
MIN_EF = 128


def connect(uri: str) -> "MilvusClient":
    try:
        client = MilvusClient(uri=uri, timeout=30)
        client.list_collections()
        return client
    except MilvusException as exc:
        raise IndexInvalid(f"cannot reach Milvus at {uri}: {exc}") from exc
    except Exception as exc:  # grpc raises its own errors (e.g. a refused connection) through pymilvus
        raise IndexInvalid(f"cannot reach Milvus at {uri}: {exc}") from exc


def create(client: "MilvusClient", name: str, dim: int) -> None:
    """Create the collection (no-op if it exists): the schema above, HNSW/IP on the vector, BM25 on terms."""
    if client.has_collection(name):
        return
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("date", DataType.VARCHAR, max_length=64)
    schema.add_field("source", DataType.VARCHAR, max_length=1024)
    schema.add_field("article_id", DataType.VARCHAR, max_length=128)
    schema.add_field("terms", DataType.VARCHAR, max_length=TERMS_MAX, enable_analyzer=True,
                     analyzer_params={"tokenizer": "standard"})
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["sparse"]))
    index = client.prepare_index_params()
    index.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW)
    index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def drop(client: "MilvusClient", name: str) -> None:
    if client.has_collection(name):
        client.drop_collection(name)


def names(client: "MilvusClient", prefix: str) -> list[str]:
    return [n for n in client.list_collections() if n.startswith(prefix)]


def row(chunk: int, vector: np.ndarray, date: str | None, source: str | None, article_id: str,
        title_terms: str, body_terms: str) -> dict[str, Any]:
    terms = f"{title_terms} {body_terms}".strip()
    if len(terms.encode("utf-8")) > TERMS_MAX:  # the search copy only: the catalog keeps every term
        terms = terms.encode("utf-8")[:TERMS_MAX].decode("utf-8", "ignore").rsplit(" ", 1)[0]
    return {"id": int(chunk), "vector": np.asarray(vector, np.float32).tolist(), "date": date or "",
            "source": source or "", "article_id": article_id, "terms": terms}


def upsert(client: "MilvusClient", name: str, rows: Sequence[dict[str, Any]]) -> None:
    for lo in range(0, len(rows), UPSERT_BATCH):
        client.upsert(name, list(rows[lo:lo + UPSERT_BATCH]))


def delete(client: "MilvusClient", name: str, ids: Sequence[int]) -> None:
    for lo in range(0, len(ids), 1000):
        client.delete(name, ids=[int(i) for i in ids[lo:lo + 1000]])


def flush(client: "MilvusClient", name: str) -> None:
    client.flush(name)


def count(client: "MilvusClient", name: str) -> int:
    """Rows now in the collection (a query, not the collection statistics: deletes count at once)."""
    rows = client.query(name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


def all_ids(client: "MilvusClient", name: str) -> list[int]:
    out: list[int] = []
    it = client.query_iterator(name, batch_size=1000, filter="", output_fields=["id"])
    try:
        while batch := it.next():
            out.extend(int(r["id"]) for r in batch)
    finally:
        it.close()
    return out


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def expression(filters: Filters) -> str:
    """The Milvus boolean expression of ``filters`` ("" for none): the same rule as the catalog's SQL
    (a date filter leaves undated articles — ``date == ""`` — out unless ``include_undated``)."""
    parts = []
    dates = []
    if filters.since:
        dates.append(f"date >= {_quote(filters.since)}")
    if filters.until:
        dates.append(f"date <= {_quote(filters.until)}")
    if dates:
        both = " and ".join(['date != ""', *dates])
        parts.append(f'(date == "" or ({both}))' if filters.include_undated else f"({both})")
    if filters.sources:
        parts.append(f"source in [{', '.join(_quote(s) for s in filters.sources)}]")
    if filters.exclude_articles:
        parts.append(f"article_id not in [{', '.join(_quote(a) for a in filters.exclude_articles)}]")
    return " and ".join(parts)


def search(client: "MilvusClient", name: str, query: np.ndarray, limit: int, expr: str) -> list[tuple[int, float]]:
    """Top ``limit`` (chunk id, inner product) passing ``expr``."""
    if limit <= 0:
        return []
    found = client.search(name, data=[np.asarray(query, np.float32).ravel().tolist()], anns_field="vector",
                          limit=limit, filter=expr, output_fields=[],
                          search_params={"metric_type": "IP", "params": {"ef": max(MIN_EF, 2 * limit)}})
    return [(int(h["id"]), float(h["distance"])) for h in (found[0] if found else [])]


def keyword_search(client: "MilvusClient", name: str, terms: Iterable[str], limit: int,
                   expr: str = "") -> list[tuple[int, float]]:
    """Milvus's own BM25 top ``limit`` over the terms field (higher = better: Lite's negated distances are
    turned back). Not used by retrieval; bench/server_backend.py compares it with the catalog's BM25."""
    text = " ".join(terms)
    if not text or limit <= 0:
        return []
    found = client.search(name, data=[text], anns_field="sparse", limit=limit, filter=expr, output_fields=[])
    return [(int(h["id"]), abs(float(h["distance"]))) for h in (found[0] if found else [])]
