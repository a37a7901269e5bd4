"""The LLM answerer: fluent answers from a langchain chat model that still cite the archive, checked.

Why a second answerer rather than an option of the extractive one: the extractive answerer stays the default,
offline and the fallback; this one adds a model, and with it failure modes (a server down, a timeout, a bad
key, a wrong citation) that must all end in a usable answer, never a traceback or an empty reply.

Backends (``llm_backend``), all driven through the one prompt of :mod:`rag.answer.prompt`:

- ``openai``: any OpenAI-compatible endpoint through ``langchain_openai.ChatOpenAI`` — the hosted API
  (no ``llm_base_url``), vLLM, llama.cpp's ``llama-server``, ``xllamacpp``, LM Studio (``llm_base_url``
  such as ``http://127.0.0.1:8080/v1``). The key is read from the environment variable *named* by
  ``llm_api_key_env`` (default ``RAG_LLM_API_KEY``), never from a file; local servers get a placeholder.
- ``ollama``: ``langchain_ollama.ChatOllama`` when that package is installed — it can set Ollama's
  ``num_ctx`` to ``llm_context_window`` (Ollama's own default window is small and silently truncates
  prompts); otherwise ``ChatOpenAI`` against Ollama's OpenAI-compatible ``/v1`` endpoint, which works with
  no extra package but leaves the window at the server's setting. ``llm_base_url`` defaults to
  ``http://127.0.0.1:11434``.
- ``llamacpp``: ``langchain_community``'s ``ChatLlamaCpp``, in process, ``llm_model`` = path of a .gguf file.
  Needs ``llama-cpp-python`` (an optional extra with no prebuilt wheel: a long build); ``rope_freq_base=0``
  makes it read the RoPE base from the file, which Qwen models need. Serving the GGUF with ``xllamacpp``
  (prebuilt wheels) and using ``openai`` is the lighter route.

Flow of :meth:`LLMAnswerer.stream`: fit the passages into the window (tiktoken, :mod:`rag.tokens`), stream the
model's tokens to the caller as they come, then check every citation (:mod:`rag.answer.citations`) and
return the final :class:`Answer`. The final answer is authoritative: its citation numbers are renumbered and
verified, so a UI should re-render it in place of the streamed text.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from index.arabic import language
from index.embedders import Embedder

from .. import tokens
from ..config import Settings
from ..conversation import is_follow_up
from ..messages import message
from ..retrieval import Retrieval
from .base import RELATED, Answer, AnswerSentence, citation_for, drain, sentence_json
from .citations import THRESHOLD_CROSS, THRESHOLD_SAME, SupportScorer, check, is_no_answer
from .extractive import ExtractiveAnswerer
from .prompt import build_prompt, rewrite_messages

#: Why the model could not answer, in the question's language, for ``messages.fallback``'s ``{reason}``.
REASONS: dict[str, dict[str, str]] = {
    "unreachable": {"ar": "تعذّر الوصول إلى الخادم {where}", "en": "the server {where} could not be reached"},
    "timeout": {"ar": "لم يردّ الخادم خلال {timeout} ث", "en": "no reply within {timeout} s"},
    "auth": {"ar": "رُفض مفتاح الوصول (HTTP {status})؛ تحقّق من المتغيّر {key_env}",
             "en": "the API key was refused (HTTP {status}); check the variable {key_env}"},
    "rate_limit": {"ar": "تجاوز حدّ الطلبات لدى الخادم (HTTP 429)", "en": "the server's rate limit was reached (HTTP 429)"},
    "server_error": {"ar": "خطأ من الخادم (HTTP {status})", "en": "the server answered with an error (HTTP {status})"},
    "malformed": {"ar": "ردّ غير صالح من الخادم", "en": "the server's reply was malformed"},
    "error": {"ar": "خطأ غير متوقّع ({type})", "en": "an unexpected error ({type})"},
    "empty": {"ar": "ردّ فارغ", "en": "the reply was empty"},
    "no_citation": {"ar": "لم تدعم المقاطعُ أيَّ جملة من ردّه", "en": "no sentence of its reply was supported by a passage"},
    "context": {"ar": "نافذة السياق أصغر من أن تتسع لأي مقطع", "en": "the context window is too small for any passage"},
}
#: Shown when some sentences of a kept LLM answer could not be matched to any passage.
FLAGGED_NOTE = {
    "ar": "لم يمكن التحقق من {n} من جمل هذه الإجابة في المقاطع المعروضة.",
    "en": "{n} sentence(s) of this answer could not be verified against the passages shown.",
}
#: Turns of history the follow-up rewrite sees.
REWRITE_HISTORY = 3
_THINK = re.compile(r"^\s*<think>.*?(?:</think>|$)", re.DOTALL)
_PREFIX = re.compile(r"^\s*(?:standalone question|rewritten question|question|السؤال المستقل|السؤال)\s*[:：]\s*",
                     re.IGNORECASE)


def not_configured() -> ValueError:
    return ValueError(
        "the LLM answerer is not configured: set RAG_LLM_MODEL (the model name; for llm_backend=llamacpp the "
        "path of a .gguf file) and, for a local server, RAG_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) — "
        "or llm_model / llm_base_url in rag.toml")


def build_chat_model(settings: Settings, max_retries: int = 1) -> Any:
    """The langchain chat model ``settings`` describe. Configuration problems are ValueErrors naming the
    setting to fix; connection problems are not checked here (they surface per question, as a fallback)."""
    if not settings.llm_model.strip():
        raise not_configured()
    backend = settings.llm_backend.strip().lower()
    if backend == "openai":
        return _openai(settings, settings.llm_base_url.strip() or None, max_retries)
    if backend == "ollama":
        base = (settings.llm_base_url.strip() or "http://127.0.0.1:11434").rstrip("/")
        base = base[:-3] if base.endswith("/v1") else base
        try:
            from langchain_ollama import ChatOllama
        except ImportError:
            return _openai(settings, base + "/v1", max_retries, placeholder="ollama")
        return ChatOllama(model=settings.llm_model, base_url=base, temperature=settings.llm_temperature,
                          num_ctx=settings.llm_context_window, num_predict=settings.llm_max_answer_tokens,
                          client_kwargs={"timeout": settings.llm_timeout})
    if backend == "llamacpp":
        path = Path(settings.llm_model).expanduser()
        if not path.is_file():
            raise ValueError(f"llm_backend=llamacpp needs RAG_LLM_MODEL to be the path of a .gguf file; "
                             f"{path} is not a file")
        try:
            import llama_cpp  # noqa: F401  (ChatLlamaCpp needs it; say so plainly rather than deep inside)
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError as exc:
            raise ValueError(
                "llm_backend=llamacpp needs llama-cpp-python and langchain-community (pip install "
                "llama-cpp-python langchain-community; llama-cpp-python builds from source). Lighter: serve "
                "the .gguf with xllamacpp or llama-server and use llm_backend=openai with RAG_LLM_BASE_URL"
            ) from exc
        return ChatLlamaCpp(model_path=str(path), n_ctx=settings.llm_context_window,
                            max_tokens=settings.llm_max_answer_tokens, temperature=settings.llm_temperature,
                            rope_freq_base=0, n_threads=os.cpu_count() or 1, streaming=True, verbose=False)
    raise ValueError(f"unknown llm_backend {settings.llm_backend!r}: openai, ollama or llamacpp")


def _openai(settings: Settings, base_url: str | None, max_retries: int, placeholder: str = "not-needed") -> Any:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise ValueError("the LLM answerer needs langchain-openai: pip install 'rag-news[llm]'") from exc
    key = os.environ.get(settings.llm_api_key_env) if settings.llm_api_key_env else None
    if not key and base_url:
        key = placeholder  # local servers ignore the key, but the client insists on one
    # ChatOpenAI sends the answer budget as the newer "max_completion_tokens"; local servers (llama.cpp's,
    # Ollama's /v1, LM Studio) may know only "max_tokens", so a custom endpoint gets both.
    extra = {"max_tokens": settings.llm_max_answer_tokens} if base_url else None
    try:
        return ChatOpenAI(model=settings.llm_model, base_url=base_url, api_key=key,
                          temperature=settings.llm_temperature, max_tokens=settings.llm_max_answer_tokens,
                          timeout=settings.llm_timeout, max_retries=max_retries, extra_body=extra,
                          use_responses_api=False, stream_usage=False)
    except Exception as exc:  # the openai client refuses to start without a key
        raise ValueError(f"cannot set up the OpenAI client ({type(exc).__name__}): without RAG_LLM_BASE_URL "
                         f"the hosted API is used and needs a key in the variable {settings.llm_api_key_env}"
                         ) from None


def classify(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """A failure of the model call → (reason key of :data:`REASONS`, details for ``Answer.meta``).

    Decided from class names along the MRO and a ``status_code`` attribute, so openai's, httpx's and
    ollama's errors are all understood without importing any of them. The exception's message is not kept:
    it can echo request details, and keys must never reach logs or JSON.
    """
    names = {c.__name__ for c in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    info: dict[str, Any] = {"type": type(exc).__name__, "status": status}
    if names & {"APITimeoutError", "TimeoutException", "TimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return "timeout", info
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError", "RemoteProtocolError"}:
        return "unreachable", info
    if status in (401, 403) or names & {"AuthenticationError", "PermissionDeniedError"}:
        return "auth", info
    if status == 429 or "RateLimitError" in names:
        return "rate_limit", info
    if isinstance(status, int) and status >= 400:
        return "server_error", info
    # A completion the client could not read: bad JSON, a missing field, "No generation chunks were returned".
    if names & {"APIResponseValidationError", "ValidationError", "ValueError", "KeyError", "IndexError",
                "TypeError"}:
        return "malformed", info
    return "error", info


def _text(message_or_chunk: Any) -> str:
    text = getattr(message_or_chunk, "text", message_or_chunk)
    return str(text) if text is not None else ""


class _ThinkFilter:
    """Keeps a reasoning model's leading ``<think>…</think>`` block out of the stream."""

    def __init__(self) -> None:
        self.state, self.buf = "start", ""

    def feed(self, piece: str) -> str:
        if self.state == "pass":
            return piece
        if self.state == "lead":  # whitespace after </think> is not part of the answer
            piece = piece.lstrip()
            if piece:
                self.state = "pass"
            return piece
        self.buf += piece
        if self.state == "start":
            head = self.buf.lstrip()
            if len(head) < 7 and "<think>".startswith(head):
                return ""  # not decided yet
            if not head.startswith("<think>"):
                self.state, out, self.buf = "pass", self.buf, ""
                return out
            self.state = "think"
        end = self.buf.find("</think>")
        if end < 0:
            return ""
        out, self.buf = self.buf[end + len("</think>"):].lstrip(), ""
        self.state = "pass" if out else "lead"
        return out


class CachedEmbedder:
    """The embedder, with passage sentences served from the citation checker's cache: the extractive
    fallback then re-embeds nothing the check already embedded (the same passages, the same sentences)."""

    def __init__(self, embedder: Embedder, scorer: SupportScorer) -> None:
        self._embedder, self._scorer = embedder, scorer

    def embed_passages(self, texts: Sequence[str]) -> Any:
        return self._scorer.vectors(list(texts))

    def __getattr__(self, name: str) -> Any:  # embed_query, identity, dim, count_tokens…
        return getattr(self._embedder, name)


class LLMAnswerer:
    """Cited answers from a chat model; the extractive answerer whenever the model cannot give one."""

    name = "llm"

    def __init__(self, embedder: Embedder, settings: Settings, chat_model: Any = None,
                 fallback: Any = None, max_retries: int = 1, thresholds: tuple[float, float] | None = None) -> None:
        """``chat_model``: any langchain chat model (tests inject fakes); built from ``settings`` when None.
        ``max_retries``: retries of the OpenAI client on connection errors and 5xx (each waits; keep low).
        ``thresholds``: (same-language, cross-language) support thresholds; default the calibrated ones."""
        self.settings = settings
        self.model = chat_model if chat_model is not None else build_chat_model(settings, max_retries)
        self.count = tokens.counter()  # loads o200k now: a missing encoding fails at start, not mid-answer
        self.scorer = SupportScorer(embedder)
        self.fallback = fallback or ExtractiveAnswerer(CachedEmbedder(embedder, self.scorer),
                                                       max_sentences=settings.answer_sentences,
                                                       threshold=settings.refusal_threshold)
        self.same, self.cross = thresholds or (THRESHOLD_SAME, THRESHOLD_CROSS)
        self.max_sentences = max(2, settings.answer_sentences + 1)
        self.last_rewrite: dict[str, Any] = {}

    # ----------------------------------------------------------------------------------------- answer --
    def answer(self, question: str, retrieval: Retrieval) -> Answer:
        return drain(self.stream(question, retrieval))

    def stream(self, question: str, retrieval: Retrieval) -> Iterator[str]:
        """Yield the model's text as it arrives; return the checked Answer (or the extractive fallback)."""
        started = time.perf_counter()
        question = question.strip()
        lang = language(question)
        if not retrieval.hits:  # nothing to cite: the extractive answerer's refusal says so in one place
            return (yield from self.fallback.stream(question, retrieval))
        s = self.settings
        plan = build_prompt(question, retrieval.hits, lang, self.count, s.llm_context_window,
                            s.llm_max_answer_tokens, self.max_sentences)
        meta: dict[str, Any] = {"llm_backend": s.llm_backend, "llm_model": self._model_label(),
                                "passages_given": len(plan.given), "dropped_passages": plan.dropped,
                                "prompt_tokens": plan.prompt_tokens}
        if not plan.given:
            return (yield from self._fallback(question, retrieval, lang, "context", meta, {}, False))
        pieces: list[str] = []
        shown = False
        think = _ThinkFilter()
        first: float | None = None
        try:
            for chunk in self.model.stream(plan.messages):
                piece = _text(chunk)
                if not piece:
                    continue
                pieces.append(piece)
                out = think.feed(piece)
                if out:
                    first = first or time.perf_counter()
                    shown = True
                    yield out
        except Exception as exc:  # every model failure ends in the extractive answer, with the reason
            reason, info = classify(exc)
            meta["error"] = info
            return (yield from self._fallback(question, retrieval, lang, reason, meta, info, shown))
        generated = time.perf_counter()
        reply = _THINK.sub("", "".join(pieces)).strip()
        meta["reply"] = reply
        if not reply:
            return (yield from self._fallback(question, retrieval, lang, "empty", meta, {}, shown))
        result = check(reply, plan.given, self.scorer, self.same, self.cross,
                       f"{question} {retrieval.query.text}")  # what was asked and what was searched
        timings = {"llm_first_token": (first or generated) - started, "llm_generate": generated - started,
                   "verify": time.perf_counter() - generated}
        meta.update({"citation_check": result.stats, "reply_language": language(reply),
                     "support_thresholds": {"same": self.same, "cross": self.cross}})
        if result.verified == 0:
            if all(is_no_answer(x.text) for x in result.sentences) or (not result.sentences and is_no_answer(reply)):
                return self._refusal(question, plan.given, lang, meta, timings)
            # The rejected reply's sentences as checked, labels and evidence: why the model's answer is not shown.
            meta["rejected_sentences"] = [sentence_json(x) for x in result.sentences]
            return (yield from self._fallback(question, retrieval, lang, "no_citation", meta, {}, shown))
        flagged = sum(1 for x in result.sentences if x.flagged)
        notes = (FLAGGED_NOTE.get(lang, FLAGGED_NOTE["en"]).format(n=flagged),) if flagged else ()
        related = sum(1 for x in result.sentences if x.label == RELATED)
        if related:  # kept, but not confirmed: say so rather than let the citation vouch for it
            notes += (message("related_note", lang, n=str(related)),)
        evidence = max(c.score for c in result.citations if c.verified)
        return Answer(question, tuple(result.sentences), tuple(result.citations), False, lang, self.name,
                      notes=notes, evidence=evidence, timings=timings, meta=meta)

    def _refusal(self, question: str, given: Sequence[Any], lang: str, meta: dict[str, Any],
                 timings: dict[str, float]) -> Answer:
        """The model said the passages do not answer: the same refusal the extractive answerer gives."""
        related = tuple(citation_for(i + 1, h, (h.chunk.start, h.chunk.end), h.score)
                        for i, h in enumerate(given[:3]))
        return Answer(question, (AnswerSentence(message("refusal", lang), ()),), (), True, lang, self.name,
                      related=related, timings=timings, meta=meta)

    def _fallback(self, question: str, retrieval: Retrieval, lang: str, reason: str, meta: dict[str, Any],
                  info: dict[str, Any], shown: bool) -> Iterator[str]:
        """The extractive answer, with a note that says why the model's answer is not shown."""
        note = message("fallback", lang, reason=self.reason(reason, lang, info))
        if shown:
            yield "\n\n"  # the model's partial text was already streamed; set the fallback apart from it
        answer: Answer = yield from self.fallback.stream(question, retrieval)
        return replace(answer, notes=(*answer.notes, note), meta={**answer.meta, **meta, "fallback": reason})

    def reason(self, key: str, lang: str, info: dict[str, Any] | None = None) -> str:
        info = info or {}
        table = REASONS.get(key, REASONS["error"])
        where = self.settings.llm_base_url or self.settings.llm_backend
        return table.get(lang, table["en"]).format(
            status=info.get("status") or "?", type=info.get("type") or key, where=where,
            timeout=f"{self.settings.llm_timeout:g}", key_env=self.settings.llm_api_key_env or "RAG_LLM_API_KEY")

    def _model_label(self) -> str:
        if self.settings.llm_backend == "llamacpp":
            return Path(self.settings.llm_model).name  # a file name, not the user's directory layout
        return self.settings.llm_model or type(self.model).__name__

    # ---------------------------------------------------------------------------------------- rewrite --
    def rewrite(self, question: str, history: list[tuple[str, str]]) -> str:
        """A follow-up as one standalone question in its own language, for retrieval.

        ``history`` holds (question, answer text) pairs, oldest first. A question that does not look like a
        follow-up (``rag.conversation.is_follow_up``) is returned as is: no model call. The rewrite must be in
        the question's language (``index.arabic.language``); otherwise one retry with the rule repeated, then
        the question searched together with the previous one, as ``rag.conversation`` does without an LLM.
        Model failures take that same fallback: a rewrite is never worth an error.
        """
        q = question.strip()
        if not history or not is_follow_up(q):
            self.last_rewrite = {"outcome": "unchanged"}
            return q
        lang = language(q)
        turns = history[-REWRITE_HISTORY:]
        fallback = f"{history[-1][0].strip()} {q}"
        for attempt in range(2):
            try:
                reply = self.model.invoke(rewrite_messages(q, turns, lang, remind=attempt > 0))
            except Exception as exc:
                reason, info = classify(exc)
                self.last_rewrite = {"outcome": "fallback", "reason": reason, "error": info, "attempts": attempt + 1}
                return fallback
            text = _clean_rewrite(_text(reply))
            if text and language(text) == lang:
                self.last_rewrite = {"outcome": "rewritten", "attempts": attempt + 1}
                return text
        self.last_rewrite = {"outcome": "fallback", "reason": "language", "attempts": 2}
        return fallback


def _clean_rewrite(text: str) -> str:
    """The rewritten question alone: no reasoning block, label, quotes or second line."""
    text = _THINK.sub("", text).strip()
    line = next((x for x in text.splitlines() if x.strip()), "")
    line = _PREFIX.sub("", line).strip()
    return line.strip("\"'«»“”` ").strip()
