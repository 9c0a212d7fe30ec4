"""The REST API under /api (ask, ask with Server-Sent Events, health, cited passages) and the embeddable widget at /widget.js."""
# No `from __future__ import annotations` here: FastAPI reads the request model from the endpoints' annotations,
# and that model is built per app, from the settings' limits.
import itertools
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote
from uuid import UUID

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.engine.answer import answer_question, stream_answer
from app.engine.guide import Guide
from app.engine.questions import QuestionError, UnknownLessonError
from app.insights import progress
from app.insights.access import OFF_MESSAGE, UNAUTHORIZED_MESSAGE, access_on, authorized
from app.insights.recording import Recorder, RecordingOff
from app.insights.store import MAX_PAGE, StoreError, UnknownAnswerError
from app.lti.routes import LAUNCH_HEADER, LtiTool
from app.lti.tokens import LaunchIdentity, LaunchTokenError
from app.quiz.bank import QuizError, course_items
from app.quiz.session import DEFAULT_QUIZ_LENGTH, QuizSession, QuizTurn, answer_turn, quiz_of, start_quiz
from app.web.learner import cookie_learner, learner_cookie
from app.web.quiz_markdown import turn_markdown
from app.web.security import (
    BodyLimitMiddleware,
    FrameAncestorsMiddleware,
    OriginGateMiddleware,
    OriginPolicy,
    RateLimitMiddleware,
    RateLimits,
)
from core.store import IndexUnusableError
from core.text import neutralise_html
from core.types import Answer, Chunk

log = logging.getLogger("course_guide")
F = TypeVar("F", bound=Callable[..., Any])

WIDGET_FILE = Path(__file__).parent / "static" / "widget.js"
DOCS_ASSETS = "/docs-assets"


def _swagger_ui_dir() -> Path:
    """The swagger-ui-py package's static folder, found without importing the package (it imports web frameworks)."""
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The swagger-ui-py package is missing; reinstall Course Guide (`pip install -e .`).")
    return Path(spec.submodule_search_locations[0]) / "static"


SWAGGER_UI_DIR = _swagger_ui_dir()
# Caps on what one request may carry. A longer history is accepted, but only its last MAX_HISTORY_MESSAGES
# (app.engine.questions) are read.
HISTORY_MESSAGES_ACCEPTED = 100
MAX_MESSAGE_CHARS = 8000
MAX_LESSON_CHARS = 200
ASK_EXAMPLE: dict[str, Any] = {"question": "What is a model registry?", "history": [], "lesson": "model-registry-and-packaging"}


# Read by app.web.courses.Deployment, which sends the call to that course's own app; declared here so the request
# models accept it and the API docs show it.
COURSE_FIELD = Field(None, min_length=1, max_length=40, pattern=r"^[a-z0-9](?:-?[a-z0-9])*$",
                     description="A registered course's name (see GET / or `course-guide course list`); none: the default "
                                 "course. The same as calling /c/NAME/api/....")


class HistoryMessage(BaseModel):
    """One earlier turn of the conversation, as the client kept it."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class AskBase(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ASK_EXAMPLE]})
    course: str | None = COURSE_FIELD
    history: list[HistoryMessage] | None = Field(
        None, max_length=HISTORY_MESSAGES_ACCEPTED, description="The conversation so far, oldest first (the server keeps none)."
    )
    lesson: str | None = Field(
        None, max_length=MAX_LESSON_CHARS, description="The lesson the learner is on: its file name, stem, or stem without the number."
    )
    learner: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
        description="An opaque learner id (at most 64 printable characters, no spaces) that the client keeps; never a name or an address.",
    )
    channel: Literal["api", "widget"] = Field("api", description="Which front end asks: the embeddable widget says 'widget'.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"answer_id": "3f0c7a52-6a1e-4c3e-9a57-0c2b8f1d9e10", "helpful": False, "comment": "It did not say how."}]})
    course: str | None = COURSE_FIELD
    answer_id: UUID = Field(description="The answer_id an answer carried.")
    helpful: StrictBool = Field(description="true: the answer helped; false: it did not.")
    comment: str | None = Field(None, max_length=2000, description="What was wrong or missing, in the learner's words.")


LEARNER_FIELD = Field(
    None, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
    description="An opaque learner id (at most 64 printable characters, no spaces) that the client keeps: the quiz's "
                "graded replies are stored under it for progress and spaced review.",
)


class QuizStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"topic": "model monitoring", "n": 5}, {"learner": "a1b2c3", "mode": "review"}]})
    course: str | None = COURSE_FIELD
    topic: str | None = Field(None, max_length=200, description="What to be quizzed on, e.g. 'model monitoring'; none: a mix.")
    n: int = Field(DEFAULT_QUIZ_LENGTH, ge=1, le=50, description="How many questions.")
    lesson: str | None = Field(None, max_length=MAX_LESSON_CHARS, description="Only this lesson's questions (its file name or stem).")
    learner: str | None = LEARNER_FIELD
    mode: Literal["quiz", "review"] = Field("quiz", description="'review': the learner's due items first, then new items from their weakest lessons.")
    channel: Literal["api", "widget"] = Field("api", description="Which front end asks: the embeddable widget says 'widget'.")


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
    session_id: str | None = Field(None, max_length=36, description="The server's id for this quiz: a reply is stored once per question.")


class LearnerRequest(BaseModel):
    """The widget's own learner id, offered so the guide's first-party cookie (the chat's id) and the widget agree."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"learner": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"}]})
    course: str | None = COURSE_FIELD
    learner: str = Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                         description="The id the widget keeps (16 to 64 letters, digits, '-' or '_').")


class QuizReplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    course: str | None = COURSE_FIELD
    session: QuizState
    reply: str = Field(max_length=MAX_MESSAGE_CHARS, description="The learner's answer to the current question, or 'stop'.")
    learner: str | None = LEARNER_FIELD
    channel: Literal["api", "widget"] = Field("api", description="Which front end asks: the embeddable widget says 'widget'.")


class DisputeRequest(BaseModel):
    """A learner who thinks a graded reply was right says so; the instructor's quiz page lists disputed gradings."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"attempt_id": "5f0c2a4e-1d2b-4c3a-9e8f-7a6b5c4d3e2f",
                                                                             "learner": "a1b2c3", "comment": "I said the same in other words."}]})
    course: str | None = COURSE_FIELD
    attempt_id: UUID = Field(description="The attempt_id that the graded reply's response carried.")
    learner: str | None = LEARNER_FIELD
    comment: str | None = Field(None, max_length=1000, description="Why the learner thinks the reply was right (optional).")


def _quiz_reply(turn: QuizTurn) -> dict:
    """The turn as JSON fields, its Markdown rendering as `message` (for clients that show it as is), and the session to send back."""
    session = turn.session
    return {"message": turn_markdown(turn), **turn.to_dict(), "session": session.to_dict(), "finished": session.finished,
            "score": session.score, "answered": len(session.results)}


class AskFields(AskBase):
    """The shape of an ask request as the code reads it; the served model (ask_request_model) adds the length limit."""

    question: str


def ask_request_model(max_question_chars: int) -> type[AskFields]:
    """The ask request with the question's length limit from the settings (FastAPI reads it from the annotation)."""
    return create_model(
        "AskRequest",
        __base__=AskFields,
        question=(str, Field(min_length=1, max_length=max_question_chars, description="The learner's question.")),
    )


def _body_model(model: type[BaseModel]) -> Callable[[F], F]:
    """Make FastAPI read the request body as `model` (built per app, from the settings) while the code is typed
    against its static base: FastAPI takes the model from the endpoint's annotation."""
    def apply(endpoint: F) -> F:
        endpoint.__annotations__["body"] = model
        return endpoint

    return apply


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# What each endpoint's body looks like, for error messages.
_BODY_EXAMPLES = {
    "/quiz": '{"topic": "model monitoring", "n": 5}',
    "/quiz/reply": '{"session": <the session the last quiz reply returned>, "reply": "...", "learner": "<learner id>"}',
    "/progress": "?learner=<learner id>",
    "/learner": '{"learner": "<the widget\'s learner id>"}',
    "/quiz/dispute": '{"attempt_id": "<from the graded reply>", "learner": "<learner id>", "comment": "..."}',
}
_ASK_BODY = '{"question": "..."}'


def _body_example(request: Request) -> str:
    path = request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"
    return _BODY_EXAMPLES.get(path, _ASK_BODY)


def _validation_message(err: RequestValidationError, example: str = _ASK_BODY) -> tuple[int, str]:
    """One line naming the first problem, e.g. 'question: Field required'; a body that is not JSON is a 400."""
    first = err.errors()[0]
    if first.get("type") == "json_invalid":
        return 400, f"The request body is not valid JSON. Send {example} with Content-Type: application/json."
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    return 422, f"Invalid request: {where}: {first.get('msg', 'invalid value')}. Send {example} as JSON."


def _event(name: str, data: dict) -> str:
    # JSON data keeps newlines inside answers from ending the event early.
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def answer_events(pieces: Iterator[str | Answer], extra: Callable[[Answer], dict] = lambda _answer: {}) -> Iterator[str]:
    """Server-Sent Events for one answer: `token` pieces, then `answer` (the full JSON, with `extra(answer)`'s fields), then
    `done`; `error` if it fails midway."""
    held = ""  # a "<" at the end of one piece may open a tag in the next: it waits for it
    try:
        for piece in pieces:
            if isinstance(piece, Answer):
                if held:
                    yield _event("token", {"text": held})
                    held = ""
                yield _event("answer", {**piece.to_dict(), **extra(piece)})
            else:
                text = held + piece
                held = "<" if text.endswith("<") else ""
                if text := neutralise_html(text.removesuffix(held) if held else text):
                    yield _event("token", {"text": text})
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


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be a date or time such as 2026-09-01 or 2026-09-01T12:00:00Z") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def create_api(guide: Guide, recorder: Recorder | None = None, lti: LtiTool | None = None,
               rate_limits: RateLimits | None = None) -> FastAPI:
    """The API as its own app, mounted at /api: its errors, limits and CORS apply to it alone, never to the chat.

    With `lti`, a request carrying a launch token (the X-Course-Guide-Launch header of a page launched from a course
    platform) acts for that launch's learner, whatever learner the body names, and a quiz it finishes sends its grade."""
    settings = guide.settings
    recorder = recorder or Recorder(settings)

    def launch_of(request: Request) -> LaunchIdentity | None:
        token = request.headers.get(LAUNCH_HEADER)
        if token is None or lti is None:
            return None
        return lti.identity(token)

    def learner_for(request: Request, learner: str | None) -> str | None:
        identity = launch_of(request)
        return identity.learner if identity else learner

    def lesson_source(lesson: str | None) -> str | None:
        """The lesson file a hint named, as recorded (the answer has already accepted the hint)."""
        try:
            return guide.resolve_lesson(lesson)
        except (UnknownLessonError, IndexUnusableError):
            return lesson
    AskRequest = ask_request_model(settings.max_question_chars)
    # One count per client across every course of a deployment (create_deployment passes its own to each course's API).
    rate_limits = rate_limits or RateLimits(settings.rate_limit_per_minute, settings.redis_url)
    api = FastAPI(
        title="Course Guide API",
        version="1",
        description="Answers from the course with citations. Errors are JSON `{\"error\": message}`.",
        docs_url=None,  # served below from packaged assets: FastAPI's default loads Swagger UI from a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    api.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_DIR), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI from the swagger-ui-py package's files, so the page works offline."""
        base = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{base}/openapi.json",
            title="Course Guide API",
            swagger_js_url=f"{base}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS}/favicon-32x32.png",
        )

    @api.exception_handler(RequestValidationError)
    def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        return _error(*_validation_message(err, _body_example(request)))

    @api.exception_handler(StarletteHTTPException)
    def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        """FastAPI's own refusals, as {"error": ...} like every other API error."""
        if err.status_code == 400:  # the body could not be parsed: not UTF-8, or nested too deep for the JSON parser
            message = (
                "The request body could not be read as JSON: send it as UTF-8 (charset=utf-8), nested no deeper than "
                f"the request needs, such as {_body_example(request)}."
            )
        else:
            message = f"{err.detail}; see /api/docs."
        return JSONResponse({"error": message}, status_code=err.status_code, headers=getattr(err, "headers", None))

    @api.exception_handler(LaunchTokenError)
    def bad_launch(_request: Request, err: LaunchTokenError) -> JSONResponse:
        return _error(401, str(err))

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
    @_body_model(AskRequest)
    def ask(body: AskFields, request: Request) -> dict:
        learner = learner_for(request, body.learner)
        history = [m.model_dump() for m in body.history or []]
        answer = answer_question(guide, body.question, history=history, lesson=body.lesson)
        return {**answer.to_dict(), "answer_id": recorder.record(answer, channel=body.channel, learner=learner, lesson=lesson_source(body.lesson))}

    @api.post(
        "/ask/stream",
        summary="Answer a question as Server-Sent Events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "`token` events ({text}), then `answer` (the full answer JSON), then `done`; `error` ({error}) if it fails midway."}},
    )
    @_body_model(AskRequest)
    def ask_stream(body: AskFields, request: Request) -> StreamingResponse:
        learner = learner_for(request, body.learner)
        history = [m.model_dump() for m in body.history or []]
        pieces = stream_answer(guide, body.question, history=history, lesson=body.lesson)
        # The first piece is taken here, so a question that cannot be answered gets a 4xx, not a stream.
        first = next(pieces)
        def recorded(answer: Answer) -> dict:
            return {"answer_id": recorder.record(answer, channel=body.channel, learner=learner, lesson=lesson_source(body.lesson))}

        return StreamingResponse(
            answer_events(itertools.chain([first], pieces), recorded),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},  # no proxy buffering of the stream
        )

    @api.exception_handler(QuizError)
    def no_quiz(_request: Request, err: QuizError) -> JSONResponse:
        return _error(422, str(err))

    def progress_store():
        """The store for progress, or None when there is none (recording off or the store down): quizzes go on without it."""
        try:
            return recorder.store()
        except (RecordingOff, StoreError) as err:
            log.warning("no progress store: %s", err)
            return None

    @api.post("/quiz", summary="Start a quiz", response_description="The first question (Markdown) and the session to send back.",
              response_model=None)
    def quiz_start(body: QuizStartRequest, request: Request) -> dict | JSONResponse:
        body = body.model_copy(update={"learner": learner_for(request, body.learner)})
        lesson = guide.resolve_lesson(body.lesson) if body.lesson else None
        if body.mode == "review":
            if not body.learner:
                return _error(422, 'A review needs the learner: send {"learner": "<your learner id>", "mode": "review"}.')
            store = progress_store()
            if store is None:
                return _error(409, "Reviews need the interaction store, which is off or unavailable here; start a plain quiz "
                                   'with {"mode": "quiz"}, or ask the site to turn recording on.')
            chosen = progress.review_items(guide, store, body.learner, body.n, lesson)
            if not chosen:
                return _error(422, "There is nothing to review in this lesson yet; start a plain quiz with {\"mode\": \"quiz\"}.")
            turn = quiz_of(chosen, None, f"Here is a review: {len(chosen)} questions, due ones first.")
        elif lesson is not None:
            chosen = [item for item in course_items(guide).values() if item.source == lesson][: body.n]
            if not chosen:
                return _error(422, f"The lesson {lesson} has no quiz questions; say “quiz me” for a mix of the course.")
            turn = quiz_of(chosen, None, f"Here is a quiz on this lesson: {len(chosen)} questions, one at a time.")
        else:
            turn = start_quiz(guide, body.topic, body.n)
        progress.started(recorder, turn, body.learner)
        return _quiz_reply(turn)

    @api.post("/quiz/reply", summary="Grade a reply and ask the next question",
              response_description="Feedback with the passage to reread, the next question or the summary, and the new session.")
    def quiz_reply(body: QuizReplyRequest, request: Request) -> dict:
        identity = launch_of(request)
        learner = identity.learner if identity else body.learner
        before = QuizSession.from_dict(body.session.model_dump())
        turn = answer_turn(guide, before, body.reply)
        attempt_id = progress.record_turn(recorder, before, turn, body.reply, learner, body.channel)
        grade = None
        if identity is not None and lti is not None and turn.session.finished and identity.sends_grades:
            grade = "queued" if lti.quiz_finished(identity, turn.session, _session_scores(turn.session, identity.learner)) else "already sent"
        return {**_quiz_reply(turn), "attempt_id": attempt_id, "grade": grade}

    def _session_scores(session: QuizSession, learner: str) -> list[float] | None:
        """The server's own grades of a session's stored attempts; None when they cannot be read (recording off, store down)."""
        store = progress_store()
        if store is None or session.session_id is None:
            return None
        return [row["score"] for row in progress.attempts(store, learner) if row["session_id"] == session.session_id]

    @api.post("/quiz/dispute", summary="Dispute the grade of a stored reply (the grade stays; the instructor sees the dispute)",
              response_description="{attempt_id, disputed: true}")
    def quiz_dispute(body: DisputeRequest, request: Request) -> JSONResponse:
        learner = learner_for(request, body.learner)
        if not learner:
            return _error(422, 'A dispute needs the learner who replied: send {"attempt_id": ..., "learner": "<learner id>"}.')
        store = progress_store()
        if store is None:
            return _error(409, "Disputes need the interaction store, which is off or unavailable here; tell your teacher directly.")
        try:
            found = progress.dispute_attempt(store, str(body.attempt_id), learner, body.comment)
        except (StoreError, SQLAlchemyError) as err:
            log.error("could not store a dispute: %s", err)
            return _error(503, "Your dispute could not be stored right now; the interaction store is unavailable. Please try again later.")
        if not found:
            return _error(404, f"No stored reply {body.attempt_id} of this learner; send the attempt_id your graded reply carried.")
        return JSONResponse({"attempt_id": str(body.attempt_id), "disputed": True})

    @api.post("/learner", summary="Share one learner id between the widget and the chat (sent with credentials)",
              response_description="{learner, linked}: the id to use from now on, and whether the browser's cookie carried it")
    def link_learner(body: LearnerRequest, request: Request) -> JSONResponse:
        # The chat knows a browser by the guide's first-party cookie. A course page on the same site sends that cookie with
        # this credentialed call, and the widget adopts the chat's id (its own records move there). A page on another site
        # gets no cookie (third-party cookies are blocked): the cookie is offered the widget's id and the widget keeps it.
        current = cookie_learner(request.scope) if recorder.enabled else None
        if current is None:
            response = JSONResponse({"learner": body.learner, "linked": False}, headers={"Cache-Control": "no-store"})
            if recorder.enabled:
                response.headers.append("set-cookie", learner_cookie(body.learner))
            return response
        progress.merge_learners(recorder, body.learner, current)
        return JSONResponse({"learner": current, "linked": True}, headers={"Cache-Control": "no-store"})

    @api.get("/progress", summary="A learner's progress: mastery per lesson, items due, lessons to review next",
             response_description="{learner, lessons: [{lesson, title, url, mastery, attempts, due}], due, due_items, review_next}")
    def learner_progress(request: Request, learner: str = Query(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                              description="The learner id the quiz replies were sent with.")) -> JSONResponse:
        learner = learner_for(request, learner) or learner
        store = progress_store()
        if store is None:
            body = {"learner": learner, "lessons": [], "due": 0, "due_items": [], "review_next": [], "recording": False}
        else:
            body = progress.progress(guide, store, learner)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @api.post("/feedback", summary="Mark an answer helpful or not helpful", response_description="The vote as stored; a second vote replaces the first.")
    def feedback(body: FeedbackRequest) -> JSONResponse:
        answer_id = str(body.answer_id)
        try:
            recorder.store().vote(answer_id, body.helpful, body.comment)
        except UnknownAnswerError:
            return _error(404, f"No answer {answer_id} was recorded here (or it has been deleted); send the answer_id that an answer from this guide carried.")
        except RecordingOff as err:
            return _error(409, str(err))
        except (StoreError, SQLAlchemyError) as err:
            log.error("could not store feedback: %s", err)
            return _error(503, "Your vote could not be stored right now; the interaction store is unavailable. Please try again later.")
        return JSONResponse({"answer_id": answer_id, "helpful": body.helpful, "comment": body.comment or None})

    @api.get("/instructor/questions", summary="Recorded learner questions, newest first (instructor token)",
             response_description="{questions: [...], total, next_offset}")
    def instructor_questions(
        request: Request,
        limit: int = Query(50, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0),
        since: str | None = Query(None, description="ISO date or time: only questions asked from then on."),
        until: str | None = Query(None, description="ISO date or time: only questions asked before then."),
        channel: Literal["chat", "widget", "api"] | None = None, lesson: str | None = None, refused: bool | None = None,
    ) -> JSONResponse:
        if not access_on(settings):
            return _error(404, OFF_MESSAGE)
        # Scripts only: the API takes the token as a Bearer header, never the dashboard's cookie.
        if not authorized(settings, request.headers.get("authorization"), None):
            return JSONResponse({"error": UNAUTHORIZED_MESSAGE}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            start, end = _parse_time(since, "since"), _parse_time(until, "until")
        except ValueError as err:
            return _error(422, f"Invalid request: {err}.")
        try:
            rows, total = recorder.store().questions(since=start, until=end, channel=channel, lesson=lesson, refused=refused,
                                                     limit=limit, offset=offset)
        except RecordingOff as err:
            return _error(409, str(err))
        except (StoreError, SQLAlchemyError) as err:
            log.error("could not read the interaction store: %s", err)
            return _error(503, "The interaction store is unavailable right now; check the database and try again.")
        more = offset + len(rows) < total
        return JSONResponse({"questions": rows, "total": total, "offset": offset, "limit": limit,
                             "next_offset": offset + len(rows) if more else None}, headers={"Cache-Control": "no-store"})

    @api.get("/health", summary="Whether the index is loaded, and its size")
    def health() -> JSONResponse:
        recording = recorder.health()
        try:
            manifest = guide.index.refresh()
        except IndexUnusableError as err:
            return JSONResponse({"status": "unavailable", "index_loaded": False, "error": str(err), "recording": recording}, status_code=503)
        return JSONResponse({
            "status": "ok",
            "index_loaded": True,
            "chunks": manifest.chunk_count,
            "files": len(manifest.files),
            "generation": manifest.generation,
            "store": guide.index.store.describe(),
            "recording": recording,
            "rate_limits": rate_limits.health(),
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
    api.add_middleware(RateLimitMiddleware, limits=rate_limits, exempt=("/health", "/openapi.json", "/docs"))
    api.add_middleware(
        CORSMiddleware,
        allow_origins=sorted(policy.allowed),
        allow_origin_regex=policy.cors_regex(),
        allow_methods=["GET", "POST"],
        allow_credentials=True,  # only the widget's POST /api/learner sends the guide's cookie, to share the chat's learner id
        allow_headers=["Content-Type", "X-Course-Guide-Launch"],
        expose_headers=["Retry-After"],
        max_age=600,
    )
    api.add_middleware(OriginGateMiddleware, policy=policy)
    api.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)  # outermost: before anything reads
    return api


def mount_api(app: FastAPI, guide: Guide, recorder: Recorder | None = None, lti: LtiTool | None = None,
              rate_limits: RateLimits | None = None) -> None:
    """Add the API at /api, the widget at /widget.js and the frame-ancestors policy to `app`; before Gradio's catch-all mount."""
    app.mount("/api", create_api(guide, recorder, lti, rate_limits))

    # Whether the guide records questions is written into the script, so the widget says so (or not) and offers votes.
    script = WIDGET_FILE.read_text(encoding="utf-8").replace(
        "const RECORDING = true;", f"const RECORDING = {'true' if guide.settings.record_interactions else 'false'};", 1)

    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        # Any site may load the script itself; what it may then do is decided by the API's origin checks.
        return Response(
            script,
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "public, max-age=300", "Cross-Origin-Resource-Policy": "cross-origin"},
        )

    app.add_middleware(FrameAncestorsMiddleware, policy=OriginPolicy(guide.settings.allowed_origins))
