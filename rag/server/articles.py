"""Articles over HTTP: add (through :func:`index.update.update_index`, like ``rag index update`` and the
page's paste box), read, remove (through the index backend's writer, :mod:`index.backend`). No SQL and no indexing logic here.

An article sent without an ``id`` gets the origin ``api:<content hash>`` (as a pasted one gets ``pasted:…``):
sending the same article twice stores it once, and two different articles never replace each other. One
with an ``id`` is that origin, as a JSONL record's is, so sending a new version under the same id replaces it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from index.articles import Article, ReadError, article_from_record
from index.lock import IndexLocked

from ..config import Settings
from ..pipeline import Pipeline
from .errors import APIError

#: Articles one request may carry (the body size limit bounds it too).
MAX_ARTICLES = 1000


def records(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and isinstance(payload.get("articles"), list):
        return payload["articles"]
    return [payload] if isinstance(payload, dict) else list(payload)


def parse(settings: Settings, payload: Any) -> list[Article | ReadError]:
    recs = records(payload)
    if not recs:
        raise APIError(400, "no articles in the request", param="articles", code="no_articles")
    if len(recs) > MAX_ARTICLES:
        raise APIError(413, f"{len(recs)} articles in one request; send at most {MAX_ARTICLES} at a time",
                       param="articles", code="too_many_articles")
    path = str(settings.uploads_dir / "api")
    out: list[Article | ReadError] = []
    for i, rec in enumerate(recs):
        item = article_from_record(rec, path, i, label=f"article {i}: ")
        if isinstance(item, Article) and item.origin_id == f"{path}#{i}":  # no id of its own
            item = replace(item, origin_id=f"api:{item.content_hash[:20]}")
        out.append(item)
    return out


def add(settings: Settings, pipe: Pipeline, payload: Any) -> dict[str, Any]:
    from index.chunking import ChunkingPolicy
    from index.backend import EmbedderMismatch, IndexInvalid
    from index.update import update_index

    items = parse(settings, payload)
    bad = [i for i in items if isinstance(i, ReadError)]
    if len(bad) == len(items):
        raise APIError(400, "; ".join(e.message for e in bad), param="articles", code="invalid_article")
    policy = ChunkingPolicy(settings.chunk_target_tokens, settings.chunk_max_tokens, settings.chunk_overlap_tokens)
    try:
        report = update_index(pipe.backend, [], pipe.embedder, pipe.store.info.embedder, policy,
                              articles=items, checkpoint_seconds=settings.checkpoint_seconds)
    except IndexLocked as exc:  # names the other writer and what to do
        raise APIError(409, str(exc), code="index_locked") from exc
    except (EmbedderMismatch, ValueError, IndexInvalid) as exc:
        raise APIError(409, str(exc), code="index_conflict") from exc
    except OSError as exc:
        raise APIError(500, f"could not write the index: {exc.strerror or exc}; the archive is unchanged",
                       code="storage_error") from exc
    return report.to_json()


def _resolve(snap: Any, wanted: str) -> tuple[str | None, str | None]:
    """(article id, origin id when ``wanted`` named one) for a content id or an article's own id."""
    if snap.article(wanted) is not None:
        return wanted, None
    found = snap.find_origins(origin_id=wanted)
    return (found[0][0], wanted) if found else (None, None)


def get(pipe: Pipeline, wanted: str) -> dict[str, Any]:
    with pipe.store.snapshot() as snap:
        aid, _ = _resolve(snap, wanted)
        if aid is None:
            raise APIError(404, f"no article {wanted!r}: give its content id (`article_id` in citations) or its "
                                "own id", param="article_id", code="article_not_found")
        record = snap.article(aid)
        origins = snap.origins_of([aid]).get(aid, [])
    return {**{k: v for k, v in vars(record).items() if k != "origins"},
            "origins": [{**vars(o), "label": o.label} for o in origins]}


def delete(pipe: Pipeline, wanted: str) -> dict[str, Any]:
    with pipe.store.snapshot() as snap:
        aid, origin = _resolve(snap, wanted)
    if aid is None:
        raise APIError(404, f"no article {wanted!r}", param="article_id", code="article_not_found")
    info = pipe.store.info
    try:
        writer = pipe.backend.writer(info.embedder, info.identity, info.dim, info.chunking)
    except IndexLocked as exc:
        raise APIError(409, str(exc), code="index_locked") from exc
    with writer:
        gone = [o for o, (a, _path) in writer.origins_under(None).items() if a == aid and origin in (None, o)]
        for o in gone:
            writer.remove_origin(o)
        removed = writer.remove_orphans()
        generation = writer.commit() if writer.dirty else writer.info.generation
    return {"deleted": wanted, "article_id": aid, "origins_removed": len(gone), "articles_removed": removed,
            "generation": generation}
