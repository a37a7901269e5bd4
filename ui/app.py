"""The browser chat (Streamlit): layout and session state only.

Answers come from :class:`rag.pipeline.Pipeline` called exactly as ``rag ask``/``rag chat`` call it;
markup comes from :mod:`ui.render` (which escapes every piece of text); adding articles goes through
:mod:`ui.ingest` → :func:`index.update.update_index`. Run it with ``rag ui``.
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import streamlit as st

from index.articles import SUPPORTED_SUFFIXES
from index.backend import Backend, open_backend
from rag.answer import Answer, names as answerer_names
from rag.config import Settings, load_settings
from rag.conversation import Conversation
from rag.messages import message
from rag.pipeline import Filters, Pipeline, PipelineError
from ui import ingest, render
from ui.render import Html, Turn

CSS = Path(__file__).with_name("style.css")
OLDEST, NEWEST = date(1800, 1, 1), date(2100, 12, 31)   # st.date_input only offers ±10 years by default
#: Shortest time each partial answer stays on screen. The extractive answerer yields its sentences within
#: microseconds of each other, and the browser would only ever paint the last one; this makes the answer
#: visibly build up sentence by sentence for at most ~0.1 s per sentence (slower streams are not delayed).
STREAM_STEP_SECONDS = 0.1


def html(markup: Html, into: Any = None) -> None:
    """The one way raw HTML reaches the page: only :class:`ui.render.Html`, whose text is escaped."""
    if not isinstance(markup, Html):
        raise TypeError("only ui.render.Html may be rendered as HTML")
    (into or st).markdown(markup, unsafe_allow_html=True)


def settings_from_args() -> Settings:
    """``load_settings()`` (file ← ``RAG_*`` environment), plus ``--index`` after ``--`` from ``rag ui``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--index", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    return load_settings(index_dir=known.index)


@st.cache_resource(show_spinner="Loading the index and the model…", max_entries=4)
def load_pipeline(index: str, instance: str, settings: Settings) -> Pipeline:
    """One Pipeline per index per process, shared by every browser tab: models and vectors load once.

    The key is where the index is plus its backend's instance key (locally the catalog file's inode), so a
    different index, or one rebuilt from scratch at the same place, gets a fresh Pipeline; a plain update
    needs none (the reader reloads its vectors on a new generation). Sharing is safe: readers are
    thread-safe (locally each thread gets its own SQLite connection).
    """
    return Pipeline(settings)


@st.cache_data(show_spinner=False, max_entries=16)
def archive(index: str, generation: int, _pipe: Pipeline) -> tuple[dict, list[str]]:
    """Archive figures and source names, recomputed only when the index generation changes."""
    with _pipe.store.snapshot() as snap:
        return snap.status(), snap.sources()


def article_dialog(pipe: Pipeline, article_id: str, span: Any) -> None:
    """"Read the whole article": the full text from the index, the cited sentences highlighted."""
    with pipe.store.snapshot() as snap:
        record = snap.article(article_id)
        origins = [o.label for o in snap.origins_of([article_id]).get(article_id, [])]
    if record is None:
        html(render.note_html("This article is no longer in the archive.", "warn"))
    else:
        html(render.article_html(record, span, origins))


show_article = st.dialog("المقال كاملاً · The whole article", width="large")(article_dialog)


def show_sources(turn: int, answer: Answer, pipe: Pipeline) -> None:
    """The numbered sources under an answer; each opens to its passage, then to the whole article."""
    query = answer.meta.get("query")
    if query and query != answer.question.strip():
        html(render.searched_html(query, answer.language))
    evidence = render.evidence_html(answer)
    if evidence is not None:
        html(evidence)
    shown = answer.related if answer.refused else answer.citations
    if shown:
        st.caption(render.md_plain(message("related" if answer.refused else "sources", answer.language)))
    for c in shown:
        with st.expander(render.citation_label(c)):
            html(render.citation_html(c, highlight=not answer.refused))
            if st.button("اقرأ المقال كاملاً · Read the whole article", key=f"full-{turn}-{c.number}"):
                show_article(pipe, c.article_id, None if answer.refused else list(c.spans))
    for note in answer.notes:
        html(render.note_html(note))


def show_turn(i: int, turn: Turn, pipe: Pipeline) -> None:
    with st.chat_message("user"):
        html(render.question_html(turn.question))
    with st.chat_message("assistant"):
        if turn.answer is None:
            html(render.note_html(turn.error or "", "error"))
            return
        html(render.answer_html(turn.answer))
        show_sources(i, turn.answer, pipe)


def ask(question: str, pipe: Pipeline, filters: Filters, k: int, answerer: str) -> None:
    """One chat turn: stream the answer sentence by sentence, then show it with its sources."""
    state = st.session_state
    turn = len(state.turns)
    with st.chat_message("user"):
        html(render.question_html(question))
    with st.chat_message("assistant"):
        slot = st.empty()
        html(render.thinking_html(question), slot)
        by_sentence = answerer == "extractive"      # an LLM streams tokens instead (see render.streaming_html)
        parts: list[str] = []
        shown_at = time.monotonic()
        try:
            gen = pipe.stream(question, state.conversation, k=k, filters=filters, answerer=answerer)
            try:
                while True:
                    part = next(gen)
                    if parts:
                        time.sleep(max(0.0, shown_at + STREAM_STEP_SECONDS - time.monotonic()))
                    parts.append(part)
                    html(render.streaming_html(parts, by_sentence), slot)
                    shown_at = time.monotonic()
            except StopIteration as done:
                answer: Answer = done.value
            finally:
                gen.close()
        except Exception as exc:  # noqa: BLE001 - shown to the user; Streamlit's rerun/stop are BaseException
            text = str(exc) if isinstance(exc, (PipelineError, ValueError)) else f"{type(exc).__name__}: {exc}"
            state.turns.append(Turn(question, error=text))
            html(render.note_html(text, "error"), slot)
            return
        state.turns.append(Turn(question, answer))
        html(render.answer_html(answer), slot)
        show_sources(turn, answer, pipe)


def start_uploads(files: list[Any], settings: Settings, pipe: Pipeline) -> ingest.UpdateJob:
    """Save each upload (sanitized name, size limit), then index the saved files in the background."""
    folder = ingest.uploads_dir(settings.index_dir)
    saved: list[Path] = []
    names: dict[str, str] = {}
    rejected: list[str] = []
    for f in files:
        try:
            ingest.check_upload(f.name, f.size, settings.upload_max_mb)
            path = ingest.save_upload(folder, f.name, f.getvalue(), settings.upload_max_mb)
        except ingest.UploadRejected as exc:
            rejected.append(str(exc))
            continue
        except OSError as exc:
            rejected.append(f"{f.name}: could not save the file ({exc.strerror or exc})")
            continue
        saved.append(path)
        names[str(path)] = f.name
    if not saved:
        return ingest.UpdateJob(names={}, rejected=rejected, finished=0.0)
    return ingest.start_update(pipe.backend, saved, pipe.embedder, pipe.store.info.embedder,
                               names=names, rejected=rejected)


def add_articles(settings: Settings, pipe: Pipeline) -> None:
    """Upload files or paste an article; either starts a background update of the index."""
    state = st.session_state
    busy = state.job is not None and state.job.running
    files = st.file_uploader(
        "ملفات · Files", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES] + ["gz"], accept_multiple_files=True,
        max_upload_size=settings.upload_max_mb, key=f"uploader-{state.uploader}",
        help=f"{', '.join(SUPPORTED_SUFFIXES)} (each also as .gz) — up to {settings.upload_max_mb} MiB per file")
    if st.button("أضف الملفات · Add the files", disabled=busy or not files, key="add-files"):
        state.job = start_uploads(list(files or []), settings, pipe)
        state.uploader += 1          # a fresh, empty uploader: the same files are not sent twice
        st.rerun()
    with st.form("paste", clear_on_submit=True):
        st.markdown("**الصق مقالاً · Paste an article**")
        title = st.text_input("العنوان · Title", key="paste-title")
        day = st.date_input("التاريخ · Date", value=None, min_value=OLDEST, max_value=NEWEST, key="paste-date")
        source = st.text_input("المصدر · Source", key="paste-source")
        text = st.text_area("النص · Text", height=150, key="paste-text")
        sent = st.form_submit_button("أضف المقال · Add the article", disabled=busy, key="paste-add")
    if sent:
        try:
            article = ingest.pasted_article(ingest.uploads_dir(settings.index_dir), title, text,
                                            day.isoformat() if day else None, source)
        except ingest.UploadRejected as exc:
            html(render.note_html(str(exc), "error"))
            return
        state.job = ingest.start_update(pipe.backend, [], pipe.embedder, pipe.store.info.embedder,
                                        articles=[article])
        st.rerun()


def job_panel() -> None:
    """Progress of the running update (a fragment polling once a second, so the chat stays usable),
    then what went in and, per file, what did not."""
    job: ingest.UpdateJob | None = st.session_state.job
    if job is None:
        return

    @st.fragment(run_every=1.0 if job.running else None)
    def panel() -> None:
        if job.running:
            st.progress(job.fraction(), text=job.describe())
            return
        if not job.shown:
            job.shown = True
            st.rerun()               # the whole page: new figures and sources in the sidebar
        if job.report is not None:
            html(render.note_html(job.summary(), "ok"))
        for problem in job.problems():
            html(render.note_html(problem, "error"))

    panel()


def sidebar(settings: Settings, pipe: Pipeline) -> tuple[Filters, int, str]:
    state = st.session_state
    with st.sidebar:
        st.header("الأرشيف · Archive")
        generation = pipe.store.generation_on_disk()
        status, sources = archive(pipe.backend.describe(), generation, pipe)
        html(render.status_html(status))
        st.subheader("البحث · Search")
        since = st.date_input("من · From", value=None, min_value=OLDEST, max_value=NEWEST, key="since")
        until = st.date_input("إلى · Until", value=None, min_value=OLDEST, max_value=NEWEST, key="until")
        chosen = st.multiselect("المصادر · Sources", sources, key="sources")
        undated = st.checkbox("يشمل غير المؤرّخة · Keep undated articles", key="undated",
                              help="With a date range, also search articles that have no date.")
        k = st.slider("عدد المقاطع · Passages (k)", 1, 50, min(max(settings.k, 1), 50), key="k")  # as `rag ask --k`
        options = [n for n in answerer_names() if n != "llm" or settings.llm_model]
        answerer = st.selectbox("طريقة الإجابة · Answerer", options, key="answerer",
                                index=options.index(settings.answerer) if settings.answerer in options else 0)
        st.subheader("المحادثة · Conversation")
        if st.button("محادثة جديدة · New conversation", key="new-conversation", disabled=not state.turns):
            state.conversation.reset()
            state.turns = []
            st.rerun()
        markdown = render.conversation_markdown(state.turns)
        st.download_button("تنزيل · Download (Markdown)", markdown, file_name="conversation.md",
                           mime="text/markdown", on_click="ignore", disabled=not state.turns, key="download")
        with st.expander("نسخ · Copy"):
            st.code(markdown, language="markdown", wrap_lines=True)
        st.subheader("إضافة مقالات · Add articles")
        add_articles(settings, pipe)
        job_panel()
    if since and until and since > until:
        st.sidebar.warning("The start date is after the end date; no article can match.")
    return Filters(since.isoformat() if since else None, until.isoformat() if until else None,
                   tuple(chosen), bool(undated)), k, answerer


def main() -> None:
    st.set_page_config(page_title="أرشيف الأخبار · News archive", page_icon="📰")
    html(render.style_html(CSS.read_text(encoding="utf-8")))
    try:
        settings = settings_from_args()
    except ValueError as exc:
        st.error(render.md_plain(str(exc)))
        st.stop()
    settings = settings.with_overrides(index_dir=Path(settings.index_dir).expanduser().resolve())
    try:
        backend: Backend = open_backend(settings)
        pipe = load_pipeline(backend.describe(), backend.instance_key(), settings)
    except (PipelineError, ValueError, OSError) as exc:
        st.error(render.md_plain(str(exc)))
        st.stop()
    if (building := backend.first_build()) is not None:  # as `rag index status` says it
        st.info(render.md_plain(f"The index is {building.describe()}: answers come from the articles indexed "
                                "so far." + ("" if building.holder else " `rag index update …` continues it.")))
    state = st.session_state
    state.setdefault("conversation", Conversation())
    state.setdefault("turns", [])
    state.setdefault("job", None)
    state.setdefault("uploader", 0)

    filters, k, answerer = sidebar(settings, pipe)
    st.title("أرشيف الأخبار · News archive")
    if not state.turns:
        st.caption("اسأل عن الأخبار المؤرشفة؛ كل إجابة تستشهد بمصادرها. · "
                   "Ask about the archived news; every answer cites its sources.")
    for i, turn in enumerate(state.turns):
        show_turn(i, turn, pipe)
    question = st.chat_input("اكتب سؤالك بالعربية أو بالإنجليزية · Ask in Arabic or English", max_chars=2000)
    if question and question.strip():
        ask(question.strip(), pipe, filters, k, answerer)


main()
