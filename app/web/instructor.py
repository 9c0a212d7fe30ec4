"""The instructor's pages at /instructor: a sign-in form, the insights dashboard, and CSV/JSON/eval-line downloads; off unless a token is configured."""
from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.exc import SQLAlchemyError

from app.engine.guide import Guide
from app.insights.access import COOKIE_MAX_AGE_S, OFF_MESSAGE, access_on, authorized, cookie_name, matching_key, session_value
from app.insights.analysis import eval_lines, summary
from app.insights.quiz_report import quiz_summary, render_quiz_page
from app.insights.recording import Recorder, RecordingOff
from app.insights.report import render, sign_in_page
from app.insights.store import StoreError
from app.quiz.bank import course_items
from core.store import IndexUnusableError

log = logging.getLogger("course_guide")

# No script runs on these pages, nothing may frame them, and nothing is cached or leaks through a referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
SIGN_IN_ATTEMPTS_PER_MINUTE = 10
CSV_COLUMNS = ("asked_at", "answer_id", "channel", "lesson", "question", "standalone_question", "refused", "helpful", "comment",
               "answerer", "latency_ms")


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _page(html: str, status: int = 200) -> Response:
    return _secured(HTMLResponse(html, status_code=status))


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: Request) -> dict[str, Any]:
    """The dashboard's filters from the query string: dates (the until day included), lesson, channel."""
    q = request.query_params
    since, until = _day(q.get("since")), _day(q.get("until"))
    channel = q.get("channel") if q.get("channel") in ("chat", "widget", "api") else None
    lesson = (q.get("lesson") or "").strip()[:200] or None
    shown = {"since": since.isoformat() if since else None, "until": until.isoformat() if until else None, "lesson": lesson, "channel": channel}
    return {
        **shown,
        "query": urlencode({k: v for k, v in shown.items() if v}),
        "since_at": datetime.combine(since, time(), timezone.utc) if since else None,
        "until_at": datetime.combine(until + timedelta(days=1), time(), timezone.utc) if until else None,
    }


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no formulas run in a spreadsheet


def mount_instructor(app: FastAPI, guide: Guide, recorder: Recorder) -> None:
    """/instructor and its downloads, on the main app (before Gradio's catch-all mount)."""
    settings = guide.settings
    root = settings.course_path()  # a registered course's pages live under /c/NAME
    attempts = MovingWindowRateLimiter(MemoryStorage())
    attempt_limit = RateLimitItemPerMinute(SIGN_IN_ATTEMPTS_PER_MINUTE)

    def gate(request: Request) -> Response | None:
        """The response to send instead of the page (off, or not signed in); None when the instructor may see it."""
        if not access_on(settings):
            return _page(f"<!doctype html><title>Instructor pages are off</title><p>{OFF_MESSAGE}</p>", 404)
        if not authorized(settings, request.headers.get("authorization"), request.cookies.get(cookie_name(settings))):
            return _page(sign_in_page(root=root), 401 if request.url.path != f"{root}/instructor" else 200)
        return None

    def course_lessons() -> dict[str, str]:
        try:
            return {source: entry.title for source, entry in guide.index.refresh().files.items()}
        except IndexUnusableError:
            return {}

    def store_problem(err: Exception) -> Response:
        if isinstance(err, RecordingOff):
            return _page(f"<!doctype html><title>Recording is off</title><p>{err}</p>", 409)
        log.error("the instructor's pages cannot read the interaction store: %s", err)
        return _page("<!doctype html><title>Store unavailable</title><p>The interaction store is unavailable right now "
                     "(see the server log and /api/health). Check the database, then reload this page.</p>", 503)

    @app.get("/instructor", include_in_schema=False)
    def dashboard(request: Request) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        filters = _filters(request)
        lessons = course_lessons()
        try:
            data = summary(recorder.store(), settings, guide.embedder, since=filters["since_at"], until=filters["until_at"],
                           channel=filters["channel"], lesson=filters["lesson"], course_lessons=lessons)
        except (RecordingOff, StoreError, SQLAlchemyError) as err:
            return store_problem(err)
        return _page(render(data, course=settings.course_label(), dashboard=True, filters=filters, lessons=sorted(lessons), root=root))

    @app.get("/instructor/quiz", include_in_schema=False)
    def quiz_page(request: Request) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            data = quiz_summary(recorder.store(), course_items(guide), guide.embedder)
        except (RecordingOff, StoreError, SQLAlchemyError) as err:
            return store_problem(err)
        except IndexUnusableError as err:
            return _page(f"<!doctype html><title>No index</title><p>{err}</p>", 503)
        return _page(render_quiz_page(data, settings.course_label(), course_lessons(), root=root))

    @app.post("/instructor/sign-in", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        if not access_on(settings):
            return _page(f"<!doctype html><title>Instructor pages are off</title><p>{OFF_MESSAGE}</p>", 404)
        client = request.client.host if request.client else "unknown"
        if not attempts.hit(attempt_limit, client):
            return _page(sign_in_page(f"Too many sign-in attempts from this address (the limit is {SIGN_IN_ATTEMPTS_PER_MINUTE} "
                                      "a minute). Wait a minute, then paste the token again.", root=root), 429)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = matching_key(settings, (form.get("token") or [""])[0].strip())
        if key is None:
            return _page(sign_in_page("That is not the instructor token. Paste the value of COURSE_GUIDE_INSTRUCTOR_TOKEN "
                                      "or the course's own token.", root=root), 401)
        response = RedirectResponse(f"{root}/instructor", status_code=303)
        response.set_cookie(cookie_name(settings), session_value(key), max_age=COOKIE_MAX_AGE_S, path=root or "/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return _secured(response)

    @app.post("/instructor/sign-out", include_in_schema=False)
    def sign_out() -> Response:
        response = RedirectResponse(f"{root}/instructor", status_code=303)
        response.delete_cookie(cookie_name(settings), path=root or "/", httponly=True, samesite="strict")
        return _secured(response)

    @app.post("/instructor/export", include_in_schema=False)
    async def export(request: Request) -> Response:
        refused = gate(request)
        if refused is not None:
            return refused
        ids = [i for i in parse_qs((await request.body()).decode("utf-8", "replace")).get("answer_id", []) if len(i) == 36][:500]
        if not ids:
            return _page("<!doctype html><title>Nothing ticked</title><p>Tick at least one question in the list, then "
                         f"<a href=\"{root}/instructor#questions\">download again</a>.</p>", 422)
        try:
            rows, _ = recorder.store().questions(answer_ids=ids, limit=None)
        except (RecordingOff, StoreError, SQLAlchemyError) as err:
            return store_problem(err)
        return _secured(Response(eval_lines(rows), media_type="application/x-ndjson; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="learner-questions.jsonl"'}))

    def listed(request: Request) -> list[dict[str, Any]]:
        filters = _filters(request)
        rows, _ = recorder.store().questions(since=filters["since_at"], until=filters["until_at"], channel=filters["channel"],
                                             lesson=filters["lesson"], limit=None)
        return rows

    def listed_or_refusal(request: Request) -> list[dict] | Response:
        """The filtered questions for an export, or the page that refuses it (not signed in, or the store is down)."""
        refused = gate(request)
        if refused is not None:
            return refused
        try:
            return listed(request)
        except (RecordingOff, StoreError, SQLAlchemyError) as err:
            return store_problem(err)

    @app.get("/instructor/questions.csv", include_in_schema=False)
    def questions_csv(request: Request) -> Response:
        rows = listed_or_refusal(request)
        if isinstance(rows, Response):
            return rows
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([_csv_cell(row[c]) for c in CSV_COLUMNS] for row in rows)
        return _secured(Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="learner-questions.csv"'}))

    @app.get("/instructor/questions.json", include_in_schema=False)
    def questions_json(request: Request) -> Response:
        rows = listed_or_refusal(request)
        if isinstance(rows, Response):
            return rows
        return _secured(Response(json.dumps({"questions": rows}, ensure_ascii=False), media_type="application/json",
                                 headers={"Content-Disposition": 'attachment; filename="learner-questions.json"'}))
