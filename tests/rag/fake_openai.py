"""A small OpenAI-compatible chat server for tests and the smoke benchmark: real HTTP on 127.0.0.1.

Why a server and not a mocked client: the LLM answerer's openai path (langchain_openai → openai → httpx)
is exercised end to end, including its timeouts, status handling and SSE parsing.

``POST /v1/chat/completions`` answers with a JSON completion, or with ``stream: true`` an SSE stream of
``data: {chunk}`` lines closed by ``data: [DONE]``. Replies are scripted (:meth:`FakeOpenAI.push`); when the
script is empty, the server "answers" by quoting the first sentence of passage 1 of the prompt with ``[1]``
(or, for a follow-up rewrite prompt, by repeating the last question), so a benchmark can run through it.
Every request body and its headers are kept in :attr:`FakeOpenAI.requests`.
"""
from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from index.arabic import split_sentences


@dataclass(frozen=True)
class Reply:
    """One scripted reply. ``status`` ≠ 200 sends an OpenAI-style error body; ``delay`` waits before the
    response starts (past the client's timeout: a timeout); ``chunk_delay`` paces the SSE chunks;
    ``malformed`` sends a body that is not a completion."""

    text: str = ""
    status: int = 200
    delay: float = 0.0
    chunk_delay: float = 0.0
    malformed: bool = False

    @staticmethod
    def error(status: int) -> "Reply":
        return Reply(status=status)


_PASSAGE_1 = re.compile(r'<passage id="1">.*?\nText:\n(.*?)\n</passage>', re.DOTALL)
_LAST_QUESTION = re.compile(r"Last question \(in \w+\): (.*)")


def default_reply(body: dict[str, Any]) -> str:
    """What the server says when nothing is scripted: a cited quote of passage 1, or the question again."""
    user = next((m.get("content", "") for m in reversed(body.get("messages", [])) if m.get("role") == "user"), "")
    if isinstance(user, list):
        user = " ".join(p.get("text", "") for p in user if isinstance(p, dict))
    m = _PASSAGE_1.search(user)
    if m:
        text = m.group(1)
        spans = split_sentences(text)
        first = text[spans[0][0]: spans[0][1]] if spans else text
        return f"{first} [1]"
    q = _LAST_QUESTION.search(user)
    return q.group(1).strip() if q else "The passages do not answer this question."


class FakeOpenAI:
    """``with FakeOpenAI() as server: ... server.url`` → ``http://127.0.0.1:PORT/v1``."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------------------- control --
    def push(self, *replies: Reply | str) -> None:
        with self._lock:
            self.script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            return self.script.popleft() if self.script else Reply(default_reply(body))

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    return self._json(400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
                with server._lock:
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = server._next(body)
                if reply.delay and server._stop.wait(reply.delay):
                    return
                if reply.status != 200:
                    kind = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(reply.status, "server_error")
                    return self._json(reply.status, {"error": {"message": f"scripted {reply.status}",
                                                               "type": kind, "code": kind}})
                if reply.malformed:  # a broken server: an SSE event or a body that is not JSON
                    if body.get("stream"):
                        return self._raw(200, b"data: {this is not json\n\ndata: [DONE]\n\n", "text/event-stream")
                    return self._raw(200, b"this is not json", "application/json")
                if body.get("stream"):
                    return self._sse(body, reply)
                return self._json(200, server._completion(body, reply.text))

            def _raw(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(self, status: int, obj: Any) -> None:
                self._raw(status, json.dumps(obj, ensure_ascii=False).encode(), "application/json")

            def _sse(self, body: dict[str, Any], reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                pieces = re.findall(r"\S+\s*|\s+", reply.text)
                try:
                    self._event(server._chunk(body, {"role": "assistant", "content": ""}, None))
                    for piece in pieces:
                        if reply.chunk_delay and server._stop.wait(reply.chunk_delay):
                            return
                        self._event(server._chunk(body, {"content": piece}, None))
                    self._event(server._chunk(body, {}, "stop"))
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _event(self, obj: Any) -> None:
                self.wfile.write(b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n")
                self.wfile.flush()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-openai")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ bodies --
    def _completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}

    def _chunk(self, body: dict[str, Any], delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
