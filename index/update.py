"""Articles in, index current: diff by content hash, embed only what is new, commit atomically.

Articles are content-addressed: an article's id is the hash of its content, and each place it was read
from (file + position, or its own id field) is an *origin* pointing at it. So
- an unchanged article costs a lookup, never an embedding, and running ``update`` twice embeds nothing;
- identical articles from two files are stored once, with both origins remembered;
- a changed article is a new content id; the old one is dropped when no origin points at it any more;
- a file that could not be read this time keeps its articles: one bad file never loses indexed data;
- a feed (RSS/Atom) is a rolling window of the latest entries: entries that scrolled out of a feed that is
  still there are kept (yesterday's news stays answerable); deleting the feed file removes its entries.

Work is streamed (articles are not all held in memory) and committed in checkpoints, each a complete,
loadable generation; a crash loses at most the work since the last checkpoint, and the next run redoes it.
A first build commits the empty schema before anything else, so it checkpoints like an update; asked to
stop (``stop``, the CLI's Ctrl-C), a run finishes the engine call under way, keeps every article whose
chunks are all embedded and returns with ``interrupted`` set. A run that changed nothing publishes nothing.
:func:`plan` works out what a run would do without writing or embedding (``--dry-run``, the ``--yes`` guard).
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np

from . import faults
from .arabic import keyword_terms
from .articles import Article, ReadError, WalkStats, count_articles, iter_files, read_file, read_paths
from .chunking import Chunk, ChunkingPolicy, chunk_article, embedding_text
from .embedders import Embedder
from .backend import Backend, IndexWriter
from .store import LocalBackend, path_under

#: Chunks embedded together and published together at a checkpoint (the crash tests count in these).
EMBED_BATCH = 64
#: Seconds one engine call should take: a stop request waits for the call under way, so Ctrl-C answers within
#: about this long. Measured on the 2 shared cores (load 13): calls of 4, 8, 16 and 64 passages embedded 64
#: passages in 69, 70, 101 and 157 s, so small calls cost no speed here.
ENGINE_SECONDS = 1.0


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
    interrupted: bool = False    # stopped on request: what is kept is committed, the rest is for the next run
    first_build: bool = False    # the index's first build (still unfinished when interrupted)
    articles_before: int = 0
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
    # (origin id, path, position, root, counted as, also a duplicate): set only once the article is stored, so
    # an interrupted run never commits an origin pointing at an article it did not store
    origins: list[tuple[str, str, int, str | None, str, bool]] = field(default_factory=list)


class EmbedStep(Protocol):
    """Chunks and embeds new articles somewhere else: a Ray Data job (index/ray_ingest.py, ``--ray``).

    The hook is this one step only: the diff, the order articles are stored in, the checkpoints, ``stop`` and
    progress stay here, so a run through it stores exactly what an in-process run stores.
    """

    #: New articles handed to one :meth:`run` (the driver stores them, then may checkpoint, between windows).
    window: int

    def run(self, articles: Sequence[tuple[str, str]], policy: ChunkingPolicy,
            stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, list[Chunk], np.ndarray]]:
        """(position, chunks, vectors) per (title, text), in order; fewer only when ``stop`` said True."""
        ...


class _Pacer:
    """Sizes engine calls to take about ENGINE_SECONDS, from the speed of the calls so far."""

    def __init__(self, start: int = 2) -> None:
        self.size = start

    def record(self, n: int, seconds: float) -> None:
        if n and seconds > 0:
            self.size = max(1, min(EMBED_BATCH, int(ENGINE_SECONDS * n / seconds)))


def article_id(article: Article) -> str:
    """The content id: identical content read from anywhere gets the same id."""
    return article.content_hash[:20]


def as_backend(index: Backend | Path | str) -> Backend:
    """A backend as given, or the local backend of an index folder (the many callers that pass a path)."""
    return LocalBackend(index) if isinstance(index, (str, os.PathLike)) else index


def update_index(root: Backend | Path | str, paths: Iterable[str | Path], embedder: Embedder, embedder_spec: str,
                 policy: ChunkingPolicy = ChunkingPolicy(), *, prune_all: bool = False, fresh: bool = False,
                 progress: Callable[[Progress], None] | None = None,
                 checkpoint_seconds: float = 60.0,
                 articles: Iterable[Article | ReadError] | None = None,
                 stop: Callable[[], bool] | None = None, total_articles: int | None = None,
                 exclude: Iterable[str] = (), embed_step: EmbedStep | None = None) -> UpdateReport:
    """Bring the index at ``root`` (a Backend, or an index folder for the local one) in line with the
    articles under ``paths``.

    ``prune_all`` (build): origins not seen in this run are removed wherever they came from; otherwise only
    those under the given paths are. ``fresh``: start from an empty index (in one transaction, so the old
    index stays readable until the new one is complete; stopping it keeps the old index whole). ``articles``:
    an already-read stream (the UI's uploads) instead of reading ``paths``. ``stop``: polled between articles
    and engine calls; when it says True the run keeps what is finished and returns with ``interrupted``
    (nothing is removed: the read was incomplete). ``total_articles``: how many articles the index will hold
    when done, recorded for readers of a first build ("N of M articles so far"). ``exclude``: gitignore
    patterns (``--exclude``) on top of each folder's ``.ragignore``; an excluded file is not part of the
    archive, so its articles leave the index like a deleted file's (the report counts the exclusions).
    ``embed_step``: chunk and embed new articles there (``--ray``) instead of with ``embedder`` in this process;
    ``embedder`` still sizes the chunks' limit and names the vectors.
    """
    started = time.perf_counter()
    paths = [Path(p) for p in paths]
    report = UpdateReport()
    state = Progress()
    pacer = _Pacer()
    if articles is not None and hasattr(articles, "__len__"):
        state.articles_total = sum(1 for a in articles if isinstance(a, Article))  # type: ignore[union-attr]
    policy = ChunkingPolicy(policy.target_tokens, min(policy.max_tokens, embedder.max_tokens - 2),
                            policy.overlap_tokens)
    note = {"paths": [Path(p).expanduser().resolve().as_posix() for p in paths], "total": total_articles}
    backend = as_backend(root)
    with backend.writer(embedder_spec, embedder.identity, embedder.dim, policy.describe(), fresh=fresh,
                        first_build=note) as writer:
        if writer.rechunk:
            raise ValueError(f"the index at {backend.describe()} was chunked with other settings ({writer.info.chunking}); "
                             "run `rag index build` to re-chunk it")
        report.first_build = writer.first_build() is not None
        if report.first_build and total_articles is not None:
            writer.note_first_build(total=total_articles)
        report.articles_before = 0 if fresh else writer.counts()["articles"]
        seen: set[str] = set()
        failed: set[str] = set()
        feeds: set[str] = set()  # feed files read this run: entries that scrolled out of them are kept
        roots = sorted(set(_roots(paths)) | writer.roots(), key=len)  # `update archive/today/` keeps `archive/`
        pending: dict[str, _Pending] = {}
        last_commit = time.monotonic()
        waiting = 0  # articles read whose chunks wait in ``pending``: done once embedded

        def flush() -> bool:
            """Embed and store what is pending; False when stopped part-way (the unstored rest is dropped)."""
            nonlocal waiting
            finished = True
            if pending:
                finished = _embed_and_store(writer, list(pending.values()), embedder, report, state, progress,
                                            pacer, stop) if embed_step is None else \
                    _store_embedded(writer, list(pending.values()), embed_step, policy, report, state, progress, stop)
                pending.clear()
            if finished and embed_step is None:  # the step path counts each article as it comes back
                state.articles_done += waiting
            waiting = 0
            notify()
            return finished

        def notify() -> None:
            if progress:
                progress(state)

        for item in (articles if articles is not None else _read(paths, state, notify, exclude, report.walk)):
            if stop is not None and stop():
                report.interrupted = True
                break
            if isinstance(item, ReadError):
                report.errors.append(item)
                failed.add(item.path)
                continue
            seen.add(item.origin_id)
            if item.metadata.get("feed_entry"):
                feeds.add(item.path)
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
            kind = "added" if previous is None else "changed"
            setattr(report, kind, getattr(report, kind) + 1)
            where = (item.origin_id, item.path, item.position, root, kind)
            if writer.has_article(aid):
                report.duplicates += 1
                state.articles_done += 1
                writer.set_origin(item.origin_id, aid, item.path, item.position, root)
            elif aid in pending:
                report.duplicates += 1
                waiting += 1
                pending[aid].origins.append((*where, True))
            elif embed_step is not None:  # chunked where it is embedded
                pending[aid] = _Pending(item, aid, [], [], [(*where, False)])
                waiting += 1
            else:
                chunks = chunk_article(item.title, item.text, embedder.count_tokens, policy)
                pending[aid] = _Pending(item, aid, chunks, [embedding_text(item.title, c.text) for c in chunks],
                                        [(*where, False)])
                waiting += 1
            if (len(pending) >= embed_step.window if embed_step is not None
                    else sum(len(p.chunks) for p in pending.values()) >= EMBED_BATCH):
                if not flush():
                    report.interrupted = True
                    break
                if not fresh and writer.dirty and time.monotonic() - last_commit >= checkpoint_seconds:
                    writer.remove_orphans()
                    writer.commit()
                    last_commit = time.monotonic()
        if report.interrupted:
            _drop(list(pending.values()), report)
            pending.clear()
        elif not flush():
            report.interrupted = True

        if report.interrupted and fresh:
            return _finish(report, started)  # leaving the with-block rolls back: the old index stays whole
        if not report.interrupted:
            scope = None if prune_all else paths
            for origin_id, (_aid, path) in writer.origins_under(scope).items():
                if origin_id not in seen and path not in failed and path not in feeds \
                        and not _under_failed(path, failed):
                    writer.remove_origin(origin_id)
                    report.removed += 1
            writer.finish_first_build()
        writer.remove_orphans()
        report.generation = writer.commit() if writer.dirty else writer.info.generation
        counts = writer.counts()
        report.articles, report.chunks = counts["articles"], counts["chunks"]
    return _finish(report, started)


def _finish(report: UpdateReport, started: float) -> UpdateReport:
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _drop(batch: list[_Pending], report: UpdateReport) -> None:
    """Articles read but not stored (a stop request): they no longer count as added or changed."""
    for p in batch:
        for *_where, kind, duplicate in p.origins:
            setattr(report, kind, getattr(report, kind) - 1)
            report.duplicates -= duplicate


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


def _embed_and_store(writer: IndexWriter, batch: list[_Pending], embedder: Embedder, report: UpdateReport,
                     state: Progress, progress: Callable[[Progress], None] | None, pacer: _Pacer,
                     stop: Callable[[], bool] | None) -> bool:
    """Embed the chunks of several articles together, longest first (less padding), then store each.

    Engine calls are sized by ``pacer`` so that ``stop`` is seen within about ENGINE_SECONDS; when it says
    True, the articles whose chunks are all embedded are stored, the others dropped, and False returned.
    """
    texts = [(len(t), i, j) for i, p in enumerate(batch) for j, t in enumerate(p.texts)]
    texts.sort(reverse=True)
    vectors: list[list[np.ndarray | None]] = [[None] * len(p.texts) for p in batch]
    finished = True
    for lo in range(0, len(texts), EMBED_BATCH):
        part = texts[lo:lo + EMBED_BATCH]
        done = 0
        while done < len(part):
            if stop is not None and stop():
                finished = False
                break
            piece = part[done:done + pacer.size]
            t0 = time.perf_counter()
            embedded = embedder.embed_passages([batch[i].texts[j] for _, i, j in piece])
            pacer.record(len(piece), time.perf_counter() - t0)
            for (_, i, j), vec in zip(piece, embedded):
                vectors[i][j] = vec
            done += len(piece)
            report.chunks_embedded += len(piece)
            state.chunks_embedded = report.chunks_embedded
            if progress:
                progress(state)
        if not finished:
            break
        faults.point("embedded")
    for p, vecs in zip(batch, vectors):
        if any(v is None for v in vecs):
            _drop([p], report)
            continue
        _store(writer, p, np.vstack(vecs) if vecs else np.zeros((0, embedder.dim), np.float32))
    return finished


def _store(writer: IndexWriter, p: _Pending, vectors: np.ndarray) -> None:
    """One embedded article and the origins that point at it."""
    a = p.article
    rows = [(c.ordinal, c.start, c.end, c.n_tokens, " ".join(keyword_terms(c.text))) for c in p.chunks]
    writer.add_article(p.article_id, a.title, a.text, a.date, a.source, a.url, dict(a.metadata),
                       " ".join(keyword_terms(a.title)), rows, vectors)
    for origin_id, path, position, root, _kind, _duplicate in p.origins:
        writer.set_origin(origin_id, p.article_id, path, position, root)


def _store_embedded(writer: IndexWriter, batch: list[_Pending], step: EmbedStep, policy: ChunkingPolicy,
                    report: UpdateReport, state: Progress, progress: Callable[[Progress], None] | None,
                    stop: Callable[[], bool] | None) -> bool:
    """The ``embed_step`` twin of :func:`_embed_and_store`: the step chunks and embeds, this stores in the
    window's order; stopped part-way, articles that came back are kept, the rest dropped, and False returned."""
    stored: set[int] = set()
    for i, chunks, vectors in step.run([(p.article.title, p.article.text) for p in batch], policy, stop):
        p = batch[i]
        stored.add(i)
        p.chunks = chunks
        p.texts = [embedding_text(p.article.title, c.text) for c in chunks]
        _store(writer, p, vectors)
        state.articles_done += len(p.origins)  # the article and the duplicates that waited for it
        report.chunks_embedded += len(chunks)
        state.chunks_embedded = report.chunks_embedded
        if progress:
            progress(state)
    if len(stored) == len(batch):
        faults.point("embedded")
        return True
    if stop is None or not stop():
        raise RuntimeError(f"the embedding step returned {len(stored)} of {len(batch)} articles without a stop")
    _drop([p for i, p in enumerate(batch) if i not in stored], report)
    return False


# ------------------------------------------------------------------------------------------ planning ---
@dataclass
class UpdatePlan:
    """What an update or build would do, worked out from the files and the catalog without writing anything."""

    added: int = 0
    changed: int = 0
    removed: int = 0             # origins that would be removed
    unchanged: int = 0
    duplicates: int = 0
    chunks_to_embed: int | None = None   # None: not counted (no embedder given)
    articles_before: int = 0
    articles_removed: int = 0    # indexed articles that would leave because every place they came from is gone
    articles_after: int = 0
    files: dict[str, Counter] = field(default_factory=dict)   # path → Counter(added=…, changed=…, removed=…)
    errors: list[ReadError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("files", "errors")}
        out["dry_run"] = True
        out["files"] = {path: dict(c) for path, c in self.files.items()}
        out["errors"] = [{"path": e.path, "line": e.line, "message": e.message} for e in self.errors]
        return out


def plan(root: Backend | Path | str, paths: Iterable[str | Path], *, prune_all: bool = False, fresh: bool = False,
         embedder: Embedder | None = None, policy: ChunkingPolicy = ChunkingPolicy(),
         exclude: Iterable[str] = ()) -> UpdatePlan:
    """The same diff :func:`update_index` makes (origins, content ids, removal scope, failed files keep their
    articles), read-only: no lock, no embedding. With ``embedder`` it also counts the chunks to embed."""
    paths = [Path(p) for p in paths]
    out = UpdatePlan()
    origins, stored = as_backend(root).stored()
    out.articles_before = len(stored)
    if policy and embedder is not None:
        policy = ChunkingPolicy(policy.target_tokens, min(policy.max_tokens, embedder.max_tokens - 2),
                                policy.overlap_tokens)
    known = set() if fresh else set(stored)
    seen: dict[str, str] = {}
    failed: set[str] = set()
    feeds: set[str] = set()
    chunks = 0
    for item in read_paths(paths, exclude):
        if isinstance(item, ReadError):
            out.errors.append(item)
            failed.add(item.path)
            continue
        aid = article_id(item)
        seen[item.origin_id] = aid
        if item.metadata.get("feed_entry"):
            feeds.add(item.path)
        previous = origins.get(item.origin_id, (None, ""))[0]
        if previous == aid:
            out.unchanged += 1
            if fresh and aid not in known and embedder is not None:
                known.add(aid)
                chunks += len(chunk_article(item.title, item.text, embedder.count_tokens, policy))
            continue
        kind = "added" if previous is None else "changed"
        setattr(out, kind, getattr(out, kind) + 1)
        out.files.setdefault(item.path, Counter())[kind] += 1
        if aid in known:
            out.duplicates += 1
            continue
        known.add(aid)
        if embedder is not None:
            chunks += len(chunk_article(item.title, item.text, embedder.count_tokens, policy))
    out.chunks_to_embed = chunks if embedder is not None else None
    roots = None if prune_all else [str(p.expanduser().resolve()) for p in paths]
    gone: set[str] = set()
    for origin_id, (_aid, path) in origins.items():
        if roots is not None and not path_under(path, roots):
            continue
        if origin_id not in seen and path not in failed and path not in feeds and not _under_failed(path, failed):
            gone.add(origin_id)
            out.removed += 1
            out.files.setdefault(path, Counter())["removed"] += 1
    after = {a for o, (a, _p) in origins.items() if o not in gone and o not in seen} | set(seen.values())
    out.articles_after = len(after)
    still = {a for o, (a, _p) in origins.items() if o not in gone}
    out.articles_removed = len({a for o, (a, _p) in origins.items() if o in gone} - still - set(seen.values()))
    return out
