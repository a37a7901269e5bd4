"""`rag index migrate --to server`: copy a local index into the server backend without re-embedding.

Why a copy and not a rebuild: embedding an archive costs hours; every vector is already in the local
catalog's blobs. The copy goes through the server writer like any build (vectors to Milvus first, one
catalog commit at the end, the writer lock held throughout), so a copy that dies leaves the target as it
was and can simply be run again.

Id map (documented in the README): local chunk ids are SQLite rowids, server ids are
``index.backend.chunk_id(article id, ordinal)``; the article ids (content hashes), ordinals, offsets,
keyword terms and vectors are copied as they are, and each chunk's rowid becomes its ``seq`` — the
insertion order the server uses to break score ties — so rankings, ties included, stay the local ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..backend import Backend, IndexMissing
from ..store import LocalBackend, Store, export_articles


def migrate(source: Path | str, target: Backend, *, replace: bool = False,
            progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Copy the local index at ``source`` into ``target``; returns {"articles", "chunks", "generation"}.

    ``target`` must hold no index unless ``replace`` (then it is replaced in one commit: readers keep the old
    one until then). Nothing is embedded: no embedder is even constructed."""
    local = LocalBackend(source)
    if not local.exists():
        raise IndexMissing(f"no index at {source} to migrate: build one with `rag index build`")
    store = Store(source)
    try:
        info = store.info
        with store.snapshot() as snap:
            total = snap.status()["articles"]
    finally:
        store.close()
    if target.exists() and not replace:
        raise ValueError(f"{target.describe()} already holds an index: add --replace to overwrite it")
    done = chunks = 0
    with target.writer(info.embedder, info.identity, info.dim, info.chunking, fresh=replace,
                       first_build={"paths": [], "total": total}) as writer:
        for article, rows, origins in export_articles(source):
            if rows:
                vectors = np.vstack([r[7] for r in rows])
                title_terms = rows[0][5]
            else:
                vectors, title_terms = np.zeros((0, info.dim), np.float32), ""
            writer.add_article(article["id"], article["title"], article["text"], article["date"], article["source"],
                               article["url"], article["metadata"], title_terms,
                               [(r[1], r[2], r[3], r[4], r[6]) for r in rows], vectors,
                               seqs=[r[0] for r in rows])
            for o in origins:
                writer.set_origin(o.origin_id, article["id"], o.path, o.position, o.root)
            done += 1
            chunks += len(rows)
            if progress:
                progress(done, total)
        writer.finish_first_build()
        generation = writer.commit()
        counts = writer.counts()
    if counts != {"articles": done, "chunks": chunks}:  # pragma: no cover - a bug, never a user error
        raise RuntimeError(f"migrated {done} articles / {chunks} chunks but the target holds {counts}")
    return {**counts, "generation": generation}
