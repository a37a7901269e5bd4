"""What every request passes before a route sees it: the body size limit and the bearer key.

Why plain ASGI middlewares and not FastAPI dependencies: they run before the body is read, so an oversized
body is refused without buffering it, and a route added later cannot forget the key check. Both answer with
the OpenAI-style error object the routes use, so a client gets one error shape whatever failed.
"""
from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable

from .errors import error_body

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Routes that answer without the key: a load balancer's liveness probe carries no secret.
OPEN_PATHS = frozenset({"/health"})


async def send_error(send: Send, status: int, message: str, type_: str, code: str,
                     headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(error_body(message, type_, None, code), ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413: at once when Content-Length says so, else while
    reading a chunked body (never more than the limit is held in memory)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        too_big = f"the request body is over the {self.max_bytes // 1024} KiB limit (setting serve_max_body_kb)"
        if length is not None:
            if not length.strip().isdigit() or int(length) > self.max_bytes:
                await send_error(send, 413, too_big, "invalid_request_error", "body_too_large")
                return
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read it here, within the limit, and replay it to the app
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await send_error(send, 413, too_big, "invalid_request_error", "body_too_large")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body, replayed = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


class BearerAuth:
    """``Authorization: Bearer <key>`` on every route but /health. The comparison is constant-time
    (``hmac.compare_digest``) so response timing does not leak how much of a guess was right; the key and
    the header are never logged or echoed."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        if not key:
            raise ValueError("an empty API key would accept every request")
        self.app, self._key = app, key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._key):
            await send_error(send, 401, "a valid API key is required: send `Authorization: Bearer <RAG_API_KEY>`",
                             "invalid_request_error", "invalid_api_key", [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)
