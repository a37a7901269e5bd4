"""The OpenAI chat-completions format around a Pipeline answer: messages in, completion (or SSE chunks) out.

Only translation lives here: the answer, its citations and the follow-up handling are the Pipeline's and
the Conversation's, so an answer over HTTP is the answer ``rag ask`` / ``rag chat`` gives.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Iterable, Sequence

from ..answer import Answer
from ..messages import message
from .errors import APIError

#: model name a client sends → answerer name in the Pipeline
MODELS = {"rag-extractive": "extractive", "rag-llm": "llm"}
_MD_SPECIAL = set("\\`*_[]|~")  # inline markup; < > & become entities


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts (what newer clients send)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content
                         if isinstance(p, dict) and p.get("type") in (None, "text"))
    raise APIError(400, "a message's content must be a string or a list of text parts", param="messages")


def split_messages(messages: Sequence[Any]) -> tuple[str, list[tuple[str, str]]]:
    """(question, earlier turns): the last message must be the user's; each earlier user message is a turn,
    answered by the assistant message after it (system messages set no question and are skipped)."""
    if not messages:
        raise APIError(400, "`messages` is empty: send at least one user message", param="messages", code="no_user_message")
    last = messages[-1]
    question = text_of(last.content).strip() if last.role == "user" else ""
    if not question:
        raise APIError(400, "the last message must be a user message with the question", param="messages",
                       code="no_user_message")
    turns: list[tuple[str, str]] = []
    for m in messages[:-1]:
        if m.role == "user":
            turns.append((text_of(m.content), ""))
        elif m.role == "assistant" and turns and not turns[-1][1]:
            turns[-1] = (turns[-1][0], strip_sources(text_of(m.content)))
    return question, turns


def _md(text: str) -> str:
    """Markdown- and HTML-inert text: article titles are data, never markup for the client to render."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


SOURCES_RULE = "\n\n---\n"


def sources_markdown(answer: Answer) -> str:
    """The numbered sources (or, for a refusal, the possibly related passages) as a Markdown list, for chat
    front-ends that show only ``content``."""
    shown = answer.related if answer.refused else answer.citations
    if not shown:
        return ""
    lines = [f"**{message('related' if answer.refused else 'sources', answer.language)}**", ""]
    for c in shown:
        meta = " — ".join(_md(x) for x in (c.date, c.source, *c.also_in) if x)
        title = _md(c.title or c.article_id)
        if c.url and c.url.startswith(("http://", "https://")):
            title = f"[{title}](<{c.url.replace('>', '%3E').replace(' ', '%20')}>)"
        lines.append(f"{c.number}. {title}" + (f" — {meta}" if meta else ""))
        lines.append(f"   > {_md(c.sentence)}")
    return SOURCES_RULE + "\n".join(lines)


def strip_sources(content: str) -> str:
    """An earlier answer as the conversation knew it: without the sources list appended to it."""
    return content.split(SOURCES_RULE, 1)[0]


def sentence_pieces(answer: Answer) -> list[str]:
    """A finished answer as content deltas, one per sentence, that join back to exactly ``answer.text``
    (one piece if its layout ever changes: a client must never see other text streamed than returned)."""
    sep = "\n" if answer.refused else " "
    pieces = []
    for i, s in enumerate(answer.sentences):
        marks = "".join(f"[{n}]" for n in s.citations)
        pieces.append((sep if i else "") + f"{s.text} {marks}".rstrip())
    return pieces if "".join(pieces) == answer.text else [answer.text]


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion(cid: str, model: str, answer: Answer, content: str) -> dict[str, Any]:
    data = answer.to_json()
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": data["citations"], "rag": data}


def chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None,
          extra: dict[str, Any] | None = None) -> str:
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **(extra or {})}
    return "data: " + json.dumps(body, ensure_ascii=False) + "\n\n"


def sse_stream(cid: str, model: str, pieces: Iterable[str], final: "Any", markdown: bool) -> Iterable[str]:
    """Server-sent events as OpenAI streams them: a role chunk, content chunks, a last chunk with
    ``finish_reason`` (carrying ``citations`` and ``rag``, the final answer), then ``data: [DONE]``.
    ``final()`` gives the Answer once ``pieces`` is exhausted."""
    yield chunk(cid, model, {"role": "assistant", "content": ""})
    try:
        for piece in pieces:
            if piece:
                yield chunk(cid, model, {"content": piece})
        answer = final()
        if markdown and (md := sources_markdown(answer)):
            yield chunk(cid, model, {"content": md})
        data = answer.to_json()
        yield chunk(cid, model, {}, "stop", {"citations": data["citations"], "rag": data})
    except Exception as exc:  # noqa: BLE001 - the response has started: the error travels as an event
        failure = APIError(500, f"the answer failed part-way ({type(exc).__name__}: {exc})", code="answer_failed")
        yield "data: " + json.dumps(failure.body(), ensure_ascii=False) + "\n\n"
    yield "data: [DONE]\n\n"
