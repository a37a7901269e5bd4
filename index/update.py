"""Articles in, index current: diff by content hash, embed only what is new, commit atomically.

Articles are content-addressed: an article's id is the hash of its content, and each place it was read
from (file + position, or its own id field) is an *origin* pointing at it. So
- an unchanged article costs a lookup, never an embedding, and running ``update`` twice embeds nothing;
- identical articles from two files are stored once, with both origins remembered;
- a changed article is a new content id; the old one is dropped when no origin points at it any more;
- a file that could not be read this time keeps its articles: one bad file never loses indexed data.

Work is streamed (articles are not all held in memory) and committed in checkpoints, each a complete,
loadable generation; a crash loses at most the work since the last checkpoint, and the next run redoes it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from . import faults
from .arabic import keyword_terms
from .articles import Article, ReadError, WalkStats, count_articles, iter_files, read_file
from .chunking import Chunk, ChunkingPolicy, chunk_article, embedding_text
from .embedders import Embedder
from .store import Writer

#: Chunks embedded per engine call: large enough to keep both cores busy, small enough for steady progress.
EMBED_BATCH = 64


@dataclass
class Progress:
    """What a progress bar needs; sent after every article and every embedding batch.

    Articles are the unit a user thinks in (one JSONL file can hold 10,000), so the files are counted
    *and* their articles, in a parse-only pass before anything is embedded: ``articles_total`` is None
    until that pass is done. An article is done once it is stored (embedded) or found unchanged.
    """

    files_done: int = 0
    files_total: int = 0
    chunks_embedded: int = 0
    current: str = ""
    articles_done: int = 0
    articles_total: int | None = None


@dataclass
class UpdateReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    duplicates: int = 0          # origins whose content was already stored from another origin
    chunks_embedded: int = 0
    articles: int = 0            # in the index after the update
    chunks: int = 0
    seconds: float = 0.0
    generation: int = 0
    errors: list[ReadError] = field(default_factory=list)
    walk: WalkStats = field(default_factory=WalkStats)   # files a folder walk passed over, by type

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = [{"path": e.path, "line": e.line, "message": e.message} for e in self.errors]
        out["skipped"] = len(self.errors)
        del out["walk"]
        out["skipped_types"] = dict(sorted(self.walk.skipped_types.items()))
        out["excluded"] = self.walk.excluded
        return out


@dataclass
class _Pending:
    article: Article
    article_id: str
    chunks: list[Chunk]
    texts: list[str]


def article_id(article: Article) -> str:
    """The content id: identical content read from anywhere gets the same id."""
    return article.content_hash[:20]


def update_index(root: Path | str, paths: Iterable[str | Path], embedder: Embedder, embedder_spec: str,
                 policy: ChunkingPolicy = ChunkingPolicy(), *, prune_all: bool = False, fresh: bool = False,
                 progress: Callable[[Progress], None] | None = None,
                 checkpoint_seconds: float = 60.0,
                 articles: Iterable[Article | ReadError] | None = None,
                 exclude: Iterable[str] = ()) -> UpdateReport:
    """Bring the index at ``root`` in line with the articles under ``paths``.

    ``prune_all`` (build): origins not seen in this run are removed wherever they came from; otherwise only
    those under the given paths are. ``fresh``: start from an empty index (in one transaction, so the old
    index stays readable until the new one is complete). ``articles``: an already-read stream (the UI's
    uploads) instead of reading ``paths``. ``exclude``: gitignore patterns (``--exclude``) on top of each
    folder's ``.ragignore``; an excluded file is not part of the archive, so its articles leave the index
    like a deleted file's (the report counts the exclusions, the CLI names them).
    """
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    report = UpdateReport()
    state = Progress()
    if articles is not None and hasattr(articles, "__len__"):
        state.articles_total = sum(1 for a in articles if isinstance(a, Article))  # type: ignore[union-attr]
    policy = ChunkingPolicy(policy.target_tokens, min(policy.max_tokens, embedder.max_tokens - 2),
                            policy.overlap_tokens)
    with Writer(root, embedder_spec, embedder.identity, embedder.dim, policy.describe(), fresh=fresh) as writer:
        if writer.rechunk:
            raise ValueError(f"the index at {root} was chunked with other settings ({writer.info.chunking}); "
                             "run `rag index build` to re-chunk it")
        seen: set[str] = set()
        failed: set[str] = set()
        roots = sorted(set(_roots(paths)) | writer.roots(), key=len)  # `update archive/today/` keeps `archive/`
        pending: dict[str, _Pending] = {}
        last_commit = time.monotonic()

        waiting = 0  # articles read whose chunks wait in ``pending``: done once embedded

        def flush() -> None:
            nonlocal waiting
            if pending:
                _embed_and_store(writer, list(pending.values()), embedder, report, state, progress)
                pending.clear()
            state.articles_done += waiting
            waiting = 0
            notify()

        def notify() -> None:
            if progress:
                progress(state)

        for item in (articles if articles is not None else _read(paths, state, notify, exclude, report.walk)):
            if isinstance(item, ReadError):
                report.errors.append(item)
                failed.add(item.path)
                continue
            seen.add(item.origin_id)
            state.current = item.title
            aid = article_id(item)
            previous = writer.origin(item.origin_id)
            root = _root_of(item.path, roots)
            if previous == aid:
                writer.fill_root(item.origin_id, root)
                report.unchanged += 1
                state.articles_done += 1
                notify()
                continue
            if previous is None:
                report.added += 1
            else:
                report.changed += 1
            if writer.has_article(aid) or aid in pending:
                report.duplicates += 1
                state.articles_done += 1
            else:
                chunks = chunk_article(item.title, item.text, embedder.count_tokens, policy)
                pending[aid] = _Pending(item, aid, chunks, [embedding_text(item.title, c.text) for c in chunks])
                waiting += 1
            writer.set_origin(item.origin_id, aid, item.path, item.position, root)
            if sum(len(p.chunks) for p in pending.values()) >= EMBED_BATCH:
                flush()
                if not fresh and time.monotonic() - last_commit >= checkpoint_seconds:
                    writer.remove_orphans()
                    writer.commit()
                    last_commit = time.monotonic()
        flush()

        scope = None if prune_all else paths
        for origin_id, (_aid, path) in writer.origins_under(scope).items():
            if origin_id not in seen and path not in failed and not _under_failed(path, failed):
                writer.remove_origin(origin_id)
                report.removed += 1
        writer.remove_orphans()
        report.generation = writer.commit()
        report.articles = writer.conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        report.chunks = writer.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _read(paths: list[Path], state: Progress, notify: Callable[[], None], exclude: Iterable[str] = (),
          stats: WalkStats | None = None) -> Iterable[Article | ReadError]:
    """Stream articles file by file, counting files and their articles first so progress has totals.

    The counting pass parses each file once more (no chunking, no embedding): on the 10,138-article ANT
    sample that is 0.8-1.4 s against the 60 min of embedding it frames (README, "Progress totals")."""
    files = list(iter_files(paths, exclude, stats))
    state.files_total = len(files)
    notify()
    state.articles_total = sum(count_articles(f) for f in files if not isinstance(f, ReadError))
    notify()
    for entry in files:
        if isinstance(entry, ReadError):
            yield entry
        else:
            state.current = entry.name
            yield from read_file(entry)
        state.files_done += 1
        notify()


def _roots(paths: list[Path]) -> list[str]:
    """The folders citations are shown relative to: each folder given, or a given file's folder."""
    out = []
    for p in paths:
        p = Path(p).expanduser()
        try:
            r = (p if p.is_dir() else p.parent).resolve().as_posix()
        except OSError:
            continue
        out.append(r)
    return sorted(set(out), key=len)


def _root_of(path: str, roots: list[str]) -> str | None:
    """The shallowest given folder holding ``path`` (the most context in a citation), if any."""
    return next((r for r in roots if path.startswith(r.rstrip("/") + "/")), None)


def _under_failed(path: str, failed: set[str]) -> bool:
    """A path that failed as a whole (e.g. an unreadable folder) protects everything under it."""
    return any(path.startswith(f.rstrip("/") + "/") for f in failed)


def _embed_and_store(writer: Writer, batch: list[_Pending], embedder: Embedder, report: UpdateReport,
                     state: Progress, progress: Callable[[Progress], None] | None) -> None:
    """Embed the chunks of several articles together, longest first (less padding), then store each."""
    texts = [(len(t), i, j) for i, p in enumerate(batch) for j, t in enumerate(p.texts)]
    texts.sort(reverse=True)
    vectors: list[list[np.ndarray | None]] = [[None] * len(p.texts) for p in batch]
    for lo in range(0, len(texts), EMBED_BATCH):
        part = texts[lo:lo + EMBED_BATCH]
        embedded = embedder.embed_passages([batch[i].texts[j] for _, i, j in part])
        for (_, i, j), vec in zip(part, embedded):
            vectors[i][j] = vec
        report.chunks_embedded += len(part)
        state.chunks_embedded = report.chunks_embedded
        faults.point("embedded")
        if progress:
            progress(state)
    for p, vecs in zip(batch, vectors):
        a = p.article
        rows = [(c.ordinal, c.start, c.end, c.n_tokens, " ".join(keyword_terms(c.text))) for c in p.chunks]
        mat = np.vstack(vecs) if vecs else np.zeros((0, embedder.dim), np.float32)
        writer.add_article(p.article_id, a.title, a.text, a.date, a.source, a.url, dict(a.metadata),
                           " ".join(keyword_terms(a.title)), rows, mat)
