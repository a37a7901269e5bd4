"""The chunk → embed step of an index build or update as a Ray Data job (``rag index build|update --ray``).

Why only this step: embedding is where the time goes (3-10 passages/s per core here), and it is the one step
that needs no shared state. The diff against the catalog, the order articles are stored in, the checkpoints,
Ctrl-C and progress stay in the driver (index/update.py) exactly as without Ray; this module only turns a
window of new articles into chunks and vectors. Each Ray actor builds its embedder through the same registry
as the driver (``index.embedders.create(spec)``) and chunks with the same policy, so an index built through
Ray equals one built in-process (tests/index/test_ray_ingest.py checks chunk ids, offsets and vectors).

Ray is imported only here, and only when ``--ray`` is given: without it nothing imports Ray.

Traps measured on this 2-core machine (issue 16): actors that reserve a whole CPU each leave nothing for Ray
Data's own tasks and the job hangs without a word, so actors reserve a fraction (``cpus_per_actor``, 0.75) and
Ray Data's tasks 0.25; a local Ray is started with ``address="local"`` so it never silently joins another
cluster on the host.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .chunking import Chunk, ChunkingPolicy, chunk_article, embedding_text

#: What a missing Ray says (the CLI shows it as is).
RAY_MISSING = "Ray is not installed: install the ray extra: pip install 'rag-news[ray]'"
#: The flag value of a bare ``--ray``: RAY_ADDRESS when set, else a Ray started in this process.
LOCAL = "local"


class RayIngestError(RuntimeError):
    """Ray is missing, the cluster cannot be reached, or an actor failed (the message says which)."""


@dataclass(frozen=True)
class RayOptions:
    """How the embedding job is laid out on the cluster (Settings ``ray_*``; README, "Ingest on a Ray cluster")."""

    address: str = LOCAL          # "local", "auto", "host:port" or "ray://host:port"
    actors: int = 0               # embedding actors; 0: one per whole CPU of the cluster, at least 1
    cpus_per_actor: float = 0.75  # fractional, or a 2-CPU node deadlocks (module docstring)
    gpus_per_actor: float = 0.0   # > 0: actors are placed on GPU nodes and a sentence-transformers model moves there
    batch_articles: int = 2       # articles per actor call: a stop request waits for at most one call
    window_articles: int = 256    # new articles per Ray Data job; the driver stores and checkpoints between jobs

    def __post_init__(self) -> None:
        if self.actors < 0:
            raise ValueError(f"ray_actors must be 0 (one per CPU) or more, not {self.actors}")
        if not 0 < self.cpus_per_actor:
            raise ValueError(f"ray_cpus_per_actor must be above 0, not {self.cpus_per_actor}")
        if self.gpus_per_actor < 0:
            raise ValueError(f"ray_gpus_per_actor must be 0 or more, not {self.gpus_per_actor}")
        if self.batch_articles < 1 or self.window_articles < 1:
            raise ValueError("ray_batch_articles and ray_window_articles must be at least 1")


def resolve_address(value: str | None, env: dict[str, str] | None = None) -> str:
    """The cluster a ``--ray`` value names: a bare flag means RAY_ADDRESS if set, else a local Ray."""
    env = dict(os.environ) if env is None else env
    value = (value or "").strip()
    if value in ("", LOCAL):
        return env.get("RAY_ADDRESS", "").strip() or LOCAL
    return value


def looks_like_address(value: str) -> bool:
    """``--ray`` takes an optional value, so ``--ray seeds/`` would take a folder for the address: refuse that."""
    return value in (LOCAL, "auto") or value.startswith("ray://") or (":" in value and "/" not in value)


class ChunkEmbedActor:
    """One Ray actor: builds the embedder once, then chunks and embeds batches of articles.

    Rows out are chunks (article index, ordinal, offsets, tokens, vector) plus ``n``, the article's chunk count,
    so the driver knows when an article is complete; an article without chunks sends one row with ordinal -1.
    """

    def __init__(self, spec: str, policy: tuple[int, int, int], gpus: float = 0.0) -> None:
        from .embedders import create

        self.embedder = create(spec)
        if gpus > 0 and hasattr(self.embedder, "to_device"):
            self.embedder.to_device("cuda")  # Ray gave this actor a GPU (CUDA_VISIBLE_DEVICES)
        self.policy = ChunkingPolicy(*policy)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cols: dict[str, list[Any]] = {k: [] for k in ("idx", "n", "ordinal", "start", "end", "n_tokens")}
        texts: list[str] = []
        for idx, title, text in zip(batch["idx"], batch["title"], batch["text"]):
            chunks = chunk_article(str(title), str(text), self.embedder.count_tokens, self.policy)
            for c in chunks or [Chunk(-1, 0, 0, "", 0)]:
                for k, v in (("idx", int(idx)), ("n", len(chunks)), ("ordinal", c.ordinal), ("start", c.start),
                             ("end", c.end), ("n_tokens", c.n_tokens)):
                    cols[k].append(v)
                if chunks:
                    texts.append(embedding_text(str(title), c.text))
        vectors = self.embedder.embed_passages(texts) if texts else np.zeros((0, self.embedder.dim), np.float32)
        out = np.zeros((len(cols["idx"]), self.embedder.dim), np.float32)
        real = np.asarray(cols["ordinal"]) >= 0
        out[real] = vectors
        result = {k: np.asarray(v, np.int64) for k, v in cols.items()}
        result["vector"] = out
        return result


class RayEmbedStep:
    """The ``embed_step`` update_index calls for each window of new articles (a context manager: it connects to
    the cluster, or starts a local Ray, on enter and disconnects on exit)."""

    def __init__(self, spec: str, options: RayOptions = RayOptions()) -> None:
        self.spec = spec
        self.options = options
        self.window = options.window_articles
        self._ray: Any = None
        self._started = False

    def __enter__(self) -> "RayEmbedStep":
        try:
            import ray
            import ray.data  # noqa: F401  (the data extra: a bare `pip install ray` lacks it)
        except ImportError as exc:
            raise RayIngestError(f"{RAY_MISSING} ({exc})") from exc
        self._ray = ray
        if not ray.is_initialized():
            address = self.options.address
            if address == LOCAL:
                # Ray runs its workers at nice +15; a Ray of our own embeds at the priority the build has
                # without --ray (a cluster's operators set their own)
                os.environ.setdefault("RAY_worker_niceness", "0")
            try:
                # log_to_driver=False: worker chatter would tear through the progress bar; errors still arrive
                # as exceptions with the worker's traceback.
                # A Ray of our own logs at ERROR (its start-up notes are about itself, not the build).
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=True,
                         logging_level="ERROR" if address == LOCAL else "WARNING")
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError… for one problem
                raise RayIngestError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc
            self._started = True
        import logging

        # "execution finished in …", "progress bars disabled": notes that would tear the CLI's progress bar
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # results in article order: the driver stores as they come
        ctx.enable_progress_bars = False             # the CLI has its own bar
        ctx.print_on_execution_start = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started and self._ray is not None:
            self._ray.shutdown()
        self._started = False

    def _actors(self) -> int:
        if self.options.actors:
            return self.options.actors
        cpus = float(self._ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus))

    def run(self, articles: Sequence[tuple[str, str]], policy: ChunkingPolicy,
            stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, list[Chunk], np.ndarray]]:
        """Chunk and embed ``articles`` ((title, text) each); yield (position, chunks, vectors) per article, in
        order. Stops early (the rest never yielded) when ``stop`` says True between actor calls."""
        if self._ray is None:
            raise RuntimeError("RayEmbedStep.run outside its with-block")
        if not articles:
            return
        ray = self._ray
        o = self.options
        calls = -(-len(articles) // o.batch_articles)
        actors = min(self._actors(), calls)  # no idle actor for a small window
        # one block per actor call: results come back (and ``stop`` is polled) call by call, not all at the end
        ds = ray.data.from_items([{"idx": i, "title": t, "text": x} for i, (t, x) in enumerate(articles)],
                                 override_num_blocks=calls)
        ds = ds.map_batches(ChunkEmbedActor, batch_size=o.batch_articles, batch_format="numpy",
                            fn_constructor_kwargs={"spec": self.spec, "gpus": o.gpus_per_actor,
                                                   "policy": (policy.target_tokens, policy.max_tokens,
                                                              policy.overlap_tokens)},
                            compute=ray.data.ActorPoolStrategy(size=actors),
                            num_cpus=o.cpus_per_actor, num_gpus=o.gpus_per_actor)
        texts = [x for _t, x in articles]
        parts: dict[int, list[tuple[int, int, int, int, np.ndarray]]] = {}
        done: dict[int, tuple[list[Chunk], np.ndarray]] = {}
        expected = 0
        batches = ds.iter_batches(batch_size=None, batch_format="numpy")
        try:
            for batch in batches:
                for row in range(len(batch["idx"])):
                    i, n = int(batch["idx"][row]), int(batch["n"][row])
                    got = parts.setdefault(i, [])
                    if n:
                        got.append((int(batch["ordinal"][row]), int(batch["start"][row]), int(batch["end"][row]),
                                    int(batch["n_tokens"][row]), batch["vector"][row]))
                    if len(got) == n:
                        got.sort(key=lambda r: r[0])
                        chunks = [Chunk(o_, s, e, texts[i][s:e], t) for o_, s, e, t, _v in got]
                        vecs = np.vstack([v for *_x, v in got]) if got else np.zeros((0, batch["vector"].shape[1]),
                                                                                    np.float32)
                        done[i] = (chunks, vecs.astype(np.float32))
                        del parts[i]
                while expected in done:
                    yield (expected, *done.pop(expected))
                    expected += 1
                if stop is not None and stop():
                    break
        except (ray.exceptions.RayError, ray.exceptions.RaySystemError) as exc:  # type: ignore[attr-defined]
            raise RayIngestError(f"the Ray embedding job failed: {_first_line(exc)}") from exc
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        for i in sorted(done):  # stopped: articles complete out of order are kept too, as in-process
            yield (i, *done[i])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    # a RayTaskError carries the worker's traceback; its last line names the real error
    return lines[-1] if lines else type(exc).__name__
