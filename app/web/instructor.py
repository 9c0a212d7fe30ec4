"""The instructor's pages at /instructor: a sign-in form, then the insights dashboard; off unless a token is configured."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from app.engine.guide import Guide
from app.insights.access import OFF_MESSAGE, configured_token
from app.insights.recording import Recorder


def mount_instructor(app: FastAPI, guide: Guide, recorder: Recorder) -> None:
    @app.get("/instructor", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        if configured_token(guide.settings) is None:
            return HTMLResponse(OFF_MESSAGE, status_code=404)
        return HTMLResponse("todo")
