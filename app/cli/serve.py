"""`course-guide serve`: the web chat, the API, the widget and the lesson pages on one port, in one or more worker processes."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from app.cli.common import course_option, db_option, guide_for, make_settings
from core.settings import ENV_PREFIX, Settings
from core.store import IndexUnusableError

# What a worker process reads, beside the COURSE_GUIDE_* settings: whether to mount the chat.
CHAT_ENV = ENV_PREFIX + "SERVE_CHAT"


def instructor_line(settings: Settings) -> str:
    """One line on the instructor's insights: where they are, or how to turn them on."""
    from app.insights.access import configured_token

    if not settings.record_interactions:
        return "Learner questions are not recorded (COURSE_GUIDE_RECORD_INTERACTIONS=false), so there are no instructor insights."
    if configured_token(settings) is None:
        return "Instructor insights are off: set COURSE_GUIDE_INSTRUCTOR_TOKEN to a secret and restart to open /instructor."
    return f"Instructor insights: http://{settings.host}:{settings.port}/instructor (sign in with COURSE_GUIDE_INSTRUCTOR_TOKEN)."


def courses_line(settings: Settings) -> str:
    """One line on the registered courses and where they are served."""
    from app.cli.common import opened_store
    from app.courses import list_courses

    with opened_store(settings) as store:
        names = [course.name for course in list_courses(store)]
    if settings.course:
        return f"Serving course {settings.course} alone, at /c/{settings.course}/."
    if not names:
        return "One course, at /. Add more with `course-guide course add NAME --corpus FOLDER` (no restart needed)."
    return f"{len(names)} registered course{'' if len(names) == 1 else 's'}, listed at /: " + ", ".join(f"/c/{n}/" for n in names)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Chroma server call otherwise
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the store's migrations say nothing unless they fail


def _app(settings: Settings, chat: bool):
    """The deployment: the default course at /, every registered course at /c/NAME/ (only settings.course's, if set)."""
    from app.web.server import create_deployment

    only = settings.course
    guide = guide_for(settings.model_copy(update={"course": None}), require_index=False)
    if only is None:
        try:
            guide.index.refresh()
        except IndexUnusableError as err:
            logging.getLogger("course_guide").warning(str(err))
    return create_deployment(guide, chat=chat, only=only, warm=True)


def worker_app():
    """The app of one uvicorn worker (`serve --workers N`): its settings come from the environment `serve` set up."""
    _configure_logging()
    return _app(make_settings(resolve_course=False), chat=os.environ.get(CHAT_ENV, "true") == "true")


@click.command()
@click.option("--host", help="Address to listen on [env: COURSE_GUIDE_HOST; default: 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env: COURSE_GUIDE_PORT; default: 7860].")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="Course folder the lesson links open [env: COURSE_GUIDE_CORPUS_DIR; default: the folder the index was built from].")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes on the one port, each with its own model; more than 1 needs --no-chat (see README 'Scaling').")
@click.option("--no-chat", "no_chat", is_flag=True,
              help="Serve the API, the widget, the lesson and instructor pages, but not the Gradio chat at /.")
@db_option
@course_option
def serve(host: str | None, port: int | None, corpus_dir: Path | None, db_dir: Path | None, course: str | None, workers: int, no_chat: bool) -> None:
    """Serve the web chat and the course documents it cites."""
    import uvicorn

    _configure_logging()
    settings = make_settings(host=host, port=port, corpus_dir=corpus_dir, db_dir=db_dir, course=course, resolve_course=False)
    if settings.course:
        make_settings(db_dir=db_dir, course=settings.course)  # an unknown course fails here, in one line
    if workers > 1 and not no_chat:
        # Gradio keeps each chat event in the process that took /queue/join; the browser's /queue/data stream can reach
        # another worker, which answers "Session not found". The API keeps nothing in the process and spreads fine.
        raise click.UsageError(
            "The Gradio chat cannot be spread over workers (its queue lives in one process). Add --no-chat to serve the API "
            "and the widget with several workers, or run one `serve` per port behind a proxy with sticky sessions.")
    if workers == 1:
        app = _app(settings, chat=not no_chat)
        click.echo(f"Course Guide is serving at http://{settings.host}:{settings.port}", err=True)
        click.echo(instructor_line(settings), err=True)
        click.echo(courses_line(settings), err=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
        return
    # Workers are fresh processes that import worker_app and read the settings from the environment: pass the flags on.
    for name, value in (("HOST", settings.host), ("PORT", settings.port), ("CORPUS_DIR", corpus_dir), ("DB_DIR", db_dir),
                        ("COURSE", settings.course)):
        if value is not None:
            os.environ[ENV_PREFIX + name] = str(value)
    os.environ[CHAT_ENV] = "false"
    click.echo(f"Course Guide API is serving at http://{settings.host}:{settings.port} with {workers} workers (no chat)", err=True)
    click.echo(instructor_line(settings), err=True)
    click.echo(courses_line(settings), err=True)
    uvicorn.run("app.cli.serve:worker_app", factory=True, workers=workers, host=settings.host, port=settings.port, log_level="warning")
