"""The REST API under /api (ask, ask with Server-Sent Events, health, cited passages) and the embeddable widget at /widget.js."""
# No `from __future__ import annotations` here: FastAPI reads the request model from the endpoints' annotations,
# and that model is built per app, from the settings' limits.
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from app.engine.answer import answer_question, stream_answer
from app.engine.guide import Guide
from app.engine.questions import QuestionError
from app.quiz.bank import QuizError
from app.quiz.session import DEFAULT_QUIZ_LENGTH, QuizSession, QuizTurn, answer_turn, start_quiz
from app.web.quiz_markdown import turn_markdown
from app.web.security import (
    FrameAncestorsMiddleware,
    OriginGateMiddleware,
    OriginPolicy,
    RateLimitMiddleware,
)
from core.store import IndexUnusableError
from core.types import Answer, Chunk

log = logging.getLogger("course_guide")

WIDGET_FILE = Path(__file__).parent / "static" / "widget.js"
# Caps on what one request may carry. A longer history is accepted, but only its last MAX_HISTORY_MESSAGES
# (app.engine.questions) are read.
HISTORY_MESSAGES_ACCEPTED = 100
MAX_MESSAGE_CHARS = 8000
MAX_LESSON_CHARS = 200
ASK_EXAMPLE = {"question": "What is a model registry?", "history": [], "lesson": "model-registry-and-packaging"}


class HistoryMessage(BaseModel):
    """One earlier turn of the conversation, as the client kept it."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class AskBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ASK_EXAMPLE]})
    history: list[HistoryMessage] | None = Field(
        None, max_length=HISTORY_MESSAGES_ACCEPTED, description="The conversation so far, oldest first (the server keeps none)."
    )
    lesson: str | None = Field(
        None, max_length=MAX_LESSON_CHARS, description="The lesson the learner is on: its file name, stem, or stem without the number."
    )


class QuizStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"topic": "model monitoring", "n": 5}]})
    topic: str | None = Field(None, max_length=200, description="What to be quizzed on, e.g. 'model monitoring'; none: a mix.")
    n: int = Field(DEFAULT_QUIZ_LENGTH, ge=1, le=50, description="How many questions.")


class QuizResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(max_length=200)
    verdict: Literal["correct", "partly", "wrong"]
    score: float = Field(ge=0, le=1)


class QuizState(BaseModel):
    """The quiz session exactly as /api/quiz returned it: the client carries it, so any replica can go on with it."""

    model_config = ConfigDict(extra="forbid")
    topic: str | None = Field(None, max_length=200)
    queue: list[str] = Field(max_length=200)
    current: str | None = Field(None, max_length=200)
    results: list[QuizResult] = Field(default_factory=list, max_length=200)
    brought_back: list[str] = Field(default_factory=list, max_length=200)
    finished: bool = False
    items: list[dict] = Field(default_factory=list, max_length=10, description="LLM-written items the quiz carries; checked again on arrival.")


class QuizReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session: QuizState
    reply: str = Field(max_length=MAX_MESSAGE_CHARS, description="The learner's answer to the current question, or 'stop'.")


def _quiz_reply(turn: QuizTurn) -> dict:
    """The turn as JSON fields, its Markdown rendering as `message` (for clients that show it as is), and the session to send back."""
    session = turn.session
    return {"message": turn_markdown(turn), **turn.to_dict(), "session": session.to_dict(), "finished": session.finished,
            "score": session.score, "answered": len(session.results)}


def ask_request_model(max_question_chars: int) -> type[AskBase]:
    return create_model(
        "AskRequest",
        __base__=AskBase,
        question=(str, Field(min_length=1, max_length=max_question_chars, description="The learner's question.")),
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _validation_message(err: RequestValidationError) -> tuple[int, str]:
    """One line naming the first problem, e.g. 'question: Field required'; a body that is not JSON is a 400."""
    first = err.errors()[0]
    if first.get("type") == "json_invalid":
        return 400, 'The request body is not valid JSON. Send {"question": "..."} with Content-Type: application/json.'
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return 422, f"Invalid request: {where}: {first.get('msg', 'invalid value')}. Send {{\"question\": \"...\"}} as JSON."


def _event(name: str, data: dict) -> str:
    # JSON data keeps newlines inside answers from ending the event early.
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def answer_events(pieces: Iterator[str | Answer]) -> Iterator[str]:
    """Server-Sent Events for one answer: `token` pieces, then `answer` (the full JSON), then `done`; `error` if it fails midway."""
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                yield _event("answer", piece.to_dict())
            else:
                yield _event("token", {"text": piece})
    except (QuestionError, IndexUnusableError) as err:
        yield _event("error", {"error": str(err)})
    except Exception:  # noqa: BLE001 - the response has started, so the client can only be told in the stream
        log.exception("answer failed while streaming")
        yield _event("error", {"error": "The answer failed midway; please ask again."})
    yield _event("done", {})


def _passage(chunk: Chunk, base_url: str) -> dict:
    return {
        "chunk_id": chunk.id,
        "section": chunk.section,
        "page": chunk.page,
        "anchor": chunk.anchor,
        "label": chunk.label,
        "url": chunk.href(base_url),
        "text": chunk.text,
    }


def create_api(guide: Guide) -> FastAPI:
    """The API as its own app, mounted at /api: its errors, limits and CORS apply to it alone, never to the chat."""
    settings = guide.settings
    AskRequest = ask_request_model(settings.max_question_chars)
    api = FastAPI(
        title="Course Guide API",
        version="1",
        description="Answers from the course with citations. Errors are JSON `{\"error\": message}`.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    @api.exception_handler(RequestValidationError)
    def invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(err))

    @api.exception_handler(QuestionError)
    def unusable_question(_request: Request, err: QuestionError) -> JSONResponse:
        return _error(422, str(err))

    @api.exception_handler(IndexUnusableError)
    def no_index(_request: Request, err: IndexUnusableError) -> JSONResponse:
        return _error(503, str(err))

    @api.exception_handler(404)
    def not_found(_request: Request, _err: Exception) -> JSONResponse:
        return _error(404, "No such API endpoint; see /api/docs.")

    @api.exception_handler(405)
    def wrong_method(request: Request, _err: Exception) -> JSONResponse:
        return _error(405, f"{request.method} is not allowed here; see /api/docs.")

    @api.post("/ask", summary="Answer a question", response_description="The answer in the CLI's `ask --json` shape.")
    def ask(body: AskRequest) -> dict:
        history = [m.model_dump() for m in body.history or []]
        return answer_question(guide, body.question, history=history, lesson=body.lesson).to_dict()

    @api.post(
        "/ask/stream",
        summary="Answer a question as Server-Sent Events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "`token` events ({text}), then `answer` (the full answer JSON), then `done`; `error` ({error}) if it fails midway."}},
    )
    def ask_stream(body: AskRequest) -> StreamingResponse:
        history = [m.model_dump() for m in body.history or []]
        pieces = stream_answer(guide, body.question, history=history, lesson=body.lesson)
        # The first piece is taken here, so a question that cannot be answered gets a 4xx, not a stream.
        first = next(pieces)
        return StreamingResponse(
            answer_events(itertools.chain([first], pieces)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy buffering of the stream
        )

    @api.exception_handler(QuizError)
    def no_quiz(_request: Request, err: QuizError) -> JSONResponse:
        return _error(422, str(err))

    @api.post("/quiz", summary="Start a quiz", response_description="The first question (Markdown) and the session to send back.")
    def quiz_start(body: QuizStartRequest) -> dict:
        return _quiz_reply(start_quiz(guide, body.topic, body.n))

    @api.post("/quiz/reply", summary="Grade a reply and ask the next question",
              response_description="Feedback with the passage to reread, the next question or the summary, and the new session.")
    def quiz_reply(body: QuizReplyRequest) -> dict:
        return _quiz_reply(answer_turn(guide, QuizSession.from_dict(body.session.model_dump()), body.reply))

    @api.get("/health", summary="Whether the index is loaded, and its size")
    def health() -> JSONResponse:
        try:
            manifest = guide.index.refresh()
        except IndexUnusableError as err:
            return JSONResponse({"status": "unavailable", "index_loaded": False, "error": str(err)}, status_code=503)
        return JSONResponse({
            "status": "ok",
            "index_loaded": True,
            "chunks": manifest.chunk_count,
            "files": len(manifest.files),
            "generation": manifest.generation,
            "store": guide.index.store.describe(),
        })

    @api.get("/sources", summary="The course documents the index holds")
    def sources() -> dict:
        manifest = guide.index.refresh()
        base = settings.base_url()
        return {"sources": [
            {"source": source, "title": entry.title, "passages": entry.chunks, "url": f"{base}/course/{quote(source)}"}
            for source, entry in sorted(manifest.files.items())
        ]}

    @api.get("/sources/{source:path}", summary="The passages of one course document, as cited")
    def source_passages(source: str, chunk_id: str | None = None) -> JSONResponse:
        """Passages come from the index, never from the disk, and only for documents the index holds: no path
        ('..', absolute, encoded, symlinked) can reach anything else."""
        manifest = guide.index.refresh()
        if source not in manifest.files:
            return _error(404, f"No course document {source!r} in the index; GET /api/sources lists them.")
        chunks = [c for c in guide.index.chunks() if c.source == source and (chunk_id is None or c.id == chunk_id)]
        if not chunks:
            return _error(404, f"No passage {chunk_id!r} in {source}; cite ids come from an answer's citations.")
        base = settings.base_url()
        return JSONResponse({
            "source": source,
            "title": manifest.files[source].title,
            "url": f"{base}/course/{quote(source)}",
            "passages": [_passage(c, base) for c in chunks],
        })

    policy = OriginPolicy(settings.allowed_origins)
    # Added innermost first: the origin gate runs first, then CORS (so 429s carry CORS headers), then the limit.
    api.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute, exempt=("/health", "/openapi.json", "/docs"))
    api.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(policy.allowed),
        allow_origin_regex=policy.cors_regex(),
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    api.add_middleware(OriginGateMiddleware, policy=policy)
    return api


def mount_api(app: FastAPI, guide: Guide) -> None:
    """Add the API at /api, the widget at /widget.js and the frame-ancestors policy to `app`; before Gradio's catch-all mount."""
    app.mount("/api", create_api(guide))

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> FileResponse:
        # Any site may load the script itself; what it may then do is decided by the API's origin checks.
        return FileResponse(
            WIDGET_FILE,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
        )

    app.add_middleware(FrameAncestorsMiddleware, policy=OriginPolicy(guide.settings.allowed_origins))
