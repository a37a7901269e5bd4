"""The FastAPI app: routes that translate HTTP to :class:`rag.pipeline.Pipeline` and :mod:`index.update`.

One Pipeline (one loaded index, one embedder) is shared by every request: its Store gives each worker
thread its own SQLite connection and notices a new generation committed by a write, so readers keep
answering during an ingest. Routes are plain ``def`` functions: FastAPI runs them in its thread pool, which
is what lets a slow answer or an ingest not block the others. Writes take the index's writer lock (the one
``rag index update`` takes); a second writer gets 409 with the holder's message.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import Body, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..answer.base import drain
from ..config import Settings
from ..pipeline import Filters, Pipeline
from . import chat
from .errors import APIError, error_body
from .guard import BearerAuth, BodyLimit

MAX_K = 50


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[Any] | None = None


class QueryFilters(BaseModel):
    """The filters ``rag ask`` takes as flags."""

    model_config = ConfigDict(extra="forbid")
    k: int | None = Field(None, ge=1, le=MAX_K, description="passages to cite (default: the k setting)")
    since: str | None = Field(None, description="only articles dated on or after (YYYY-MM-DD)")
    until: str | None = Field(None, description="only articles dated on or before (YYYY-MM-DD)")
    sources: list[str] = Field(default_factory=list, description="only articles from these sources")
    include_undated: bool = False


class RagOptions(QueryFilters):
    sources_markdown: bool = Field(False, description="append the sources as a Markdown list to the content")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens…: accepted, the answerer decides
    model: str
    messages: list[ChatMessage]
    stream: bool = False
    rag: RagOptions | None = None


class SearchRequest(QueryFilters):
    question: str = Field(..., min_length=1)
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"


def create_app(settings: Settings, pipeline: Pipeline | None = None, api_key: str | None = None) -> FastAPI:
    """The app over ``settings.index_dir``. ``api_key`` (the CLI passes ``$RAG_API_KEY``): bearer auth on
    every route but /health. CORS is on only for the origins in ``settings.serve_cors_origins``."""
    pipe = pipeline or Pipeline(settings)
    # FastAPIOffline: /docs serves Swagger UI's script and style from the package, not from a CDN the
    # browser of an offline newsroom machine cannot reach
    app = FastAPIOffline(title="rag-news", version="1",
                         description="Cited question answering over a news archive: OpenAI-compatible chat, "
                                     "search, ingest. See README, section 'HTTP API'.")
    app.state.pipeline = pipe
    _errors(app)
    _routes(app, settings, pipe)
    app.add_middleware(BodyLimit, max_bytes=settings.serve_max_body_kb * 1024)
    if api_key:
        app.add_middleware(BearerAuth, key=api_key)
    origins = [o.strip() for o in settings.serve_cors_origins.split(",") if o.strip()]
    if origins:  # added last: outermost, so a browser's preflight is answered before the key check
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "content-type", "x-rag-sources-markdown"])
    return app


def _errors(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(_request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        if first.get("type") == "json_invalid":
            loc = []
            msg, code = f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'syntax error')})", \
                "invalid_json"
        else:
            msg, code = f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid value')}", "invalid_value"
        return JSONResponse(error_body(msg, "invalid_request_error", ".".join(loc) or None, code), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(str(exc.detail), "invalid_request_error", None, str(exc.status_code)),
                            status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # a bug, not a bad request: say what, never the traceback
        return JSONResponse(error_body(f"internal error ({type(exc).__name__})", "server_error", None,
                                       "internal_error"), status_code=500)


def _filters(f: QueryFilters) -> Filters:
    from index.dates import parse_date

    def iso(value: str | None, name: str) -> str | None:
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            raise APIError(400, f"{name}: not a date: {value!r} (use YYYY-MM-DD)", param=name, code="invalid_date")
        return parsed

    return Filters(iso(f.since, "since"), iso(f.until, "until"), tuple(f.sources), f.include_undated)


def _bad_question(exc: ValueError) -> APIError:
    from index.sources import UnknownSource

    param = "sources" if isinstance(exc, UnknownSource) else None
    return APIError(400, str(exc), param=param, code="unknown_source" if param else "invalid_question")


def _routes(app: FastAPI, settings: Settings, pipe: Pipeline) -> None:
    models = ["rag-extractive"] + (["rag-llm"] if settings.llm_model.strip() else [])

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/v1/models", tags=["chat"])
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "rag-news"}
                                           for m in models]}

    @app.post("/v1/chat/completions", tags=["chat"])
    def chat_completions(req: ChatRequest,
                         x_rag_sources_markdown: str | None = Header(None)) -> Any:
        """OpenAI chat completions. The last user message is the question; earlier user/assistant messages are
        the conversation (follow-ups resolved as in `rag chat`). `citations` and `rag` (the whole answer as
        `rag ask --json` prints it) are extra top-level fields; `rag.sources_markdown` or the header
        `X-RAG-Sources-Markdown: 1` appends the sources to the content as a Markdown list."""
        if req.model not in models:
            raise APIError(404, f"unknown model {req.model!r}; this server has: {', '.join(models)}",
                           param="model", code="model_not_found")
        question, turns = chat.split_messages(req.messages)
        opts = req.rag or RagOptions()
        markdown = opts.sources_markdown or (x_rag_sources_markdown or "").strip().lower() in {"1", "true", "yes"}
        conversation = pipe.replay(turns, question, opts.k, _filters(opts)) if turns else None
        gen = pipe.stream(question, conversation, k=opts.k, filters=_filters(opts), answerer=chat.MODELS[req.model])
        cid, streamed = chat.new_id(), pipe.answerer(chat.MODELS[req.model]).name != "extractive"
        try:
            if not streamed:
                # the extractive answerer has chosen every sentence before it yields the first: streaming the
                # final answer's sentences keeps the streamed content identical to the non-streamed one
                answer = drain(gen)
                first: list[str] = []
            else:
                first = [next(gen)]  # a bad question fails here, before the response starts
        except StopIteration as done:
            answer, first = done.value, []
            streamed = False
        except ValueError as exc:
            raise _bad_question(exc) from exc
        if not req.stream:
            if streamed:
                answer = drain(gen)
            content = answer.text + (chat.sources_markdown(answer) if markdown else "")
            return chat.completion(cid, req.model, answer, content)
        holder: dict[str, Any] = {}

        def pieces() -> Any:
            if not streamed:
                yield from chat.sentence_pieces(answer)
                holder["answer"] = answer
                return
            yield from first
            holder["answer"] = yield from gen

        return StreamingResponse(chat.sse_stream(cid, req.model, pieces(), lambda: holder["answer"], markdown),
                                 media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @app.post("/v1/search", tags=["search"])
    def search(req: SearchRequest) -> dict[str, Any]:
        """Ranked passages for a question, with their fused score and each leg's (no answer is composed)."""
        if not req.question.strip():
            raise APIError(400, "the question is empty", param="question", code="invalid_question")
        try:
            retrieval = pipe.retrieve(req.question, req.k, _filters(req), mode=req.mode)
        except ValueError as exc:
            raise _bad_question(exc) from exc
        data = []
        for rank, hit in enumerate(retrieval.hits, 1):
            c = hit.chunk
            data.append({"rank": rank, "score": round(hit.score, 4),
                         "dense": None if hit.dense is None else round(hit.dense, 4),
                         "keyword": None if hit.keyword is None else round(hit.keyword, 4),
                         "article_id": c.article_id, "chunk_id": c.id, "title": c.title, "date": c.date,
                         "source": c.source, "url": c.url, "origin": c.origin, "passage_text": c.text,
                         "passage_start": c.start, "also_in": [s for s in hit.sources if s != c.source]})
        return {"object": "list", "question": req.question, "data": data, "generation": retrieval.generation,
                "keyword_weight": round(retrieval.keyword_weight, 3),
                "timing": {k: round(v, 4) for k, v in retrieval.timings.items()}}

    @app.get("/v1/status", tags=["index"])
    def status() -> dict[str, Any]:
        """What `rag index status --json` prints."""
        from index.backend import IndexInvalid, IndexMissing

        from ..cli import index_status_json

        try:
            return index_status_json(pipe.backend)
        except (IndexMissing, IndexInvalid) as exc:
            raise APIError(503, str(exc), code="index_unavailable") from exc

    _article_routes(app, settings, pipe)


def _article_routes(app: FastAPI, settings: Settings, pipe: Pipeline) -> None:
    from . import articles

    @app.post("/v1/articles", tags=["index"])
    def post_articles(payload: dict[str, Any] | list[Any] = Body(...)) -> dict[str, Any]:
        """One article object, a list of them, or `{"articles": [...]}`, with the fields the JSON readers
        accept (title, text/body/content, date, source, url, id; others are kept as metadata). Indexed
        incrementally; the answer is what `rag index update --json` prints."""
        return articles.add(settings, pipe, payload)

    @app.get("/v1/articles/{article_id}", tags=["index"])
    def get_article(article_id: str) -> dict[str, Any]:
        """An article by its content id (`article_id` in citations) or its own id; text as JSON data."""
        return articles.get(pipe, article_id)

    @app.delete("/v1/articles/{article_id}", tags=["index"])
    def delete_article(article_id: str) -> dict[str, Any]:
        """Remove an article (by content id: every origin of it; by its own id: that origin)."""
        return articles.delete(pipe, article_id)
