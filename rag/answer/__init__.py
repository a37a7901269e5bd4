"""Answerers by name: ``extractive`` (default, offline) and ``llm`` (langchain chat models)."""
from __future__ import annotations

from typing import Any

from .base import Answer, AnswerSentence, Answerer, Citation, create, names, register


def _extractive(**kwargs: Any) -> Answerer:
    from .extractive import ExtractiveAnswerer

    return ExtractiveAnswerer(kwargs["embedder"], max_sentences=kwargs.get("max_sentences", 3),
                              threshold=kwargs.get("threshold"))


def _llm(**kwargs: Any) -> Answerer:
    # langchain and its chat models load only when an LLM answer is asked for: off the extractive fast path.
    from .llm import LLMAnswerer

    return LLMAnswerer(embedder=kwargs["embedder"], settings=kwargs["settings"])


register("extractive", _extractive)
register("llm", _llm)

__all__ = ["Answer", "AnswerSentence", "Answerer", "Citation", "create", "names", "register"]
