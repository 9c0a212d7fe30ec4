"""`course-guide serve`: the web chat, the API, the widget and the lesson pages on one port."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from app.cli.common import db_option, guide_for, make_settings
from core.settings import Settings
from core.store import IndexUnusableError


def instructor_line(settings: Settings) -> str:
    """One line on the instructor's insights: where they are, or how to turn them on."""
    from app.insights.access import configured_token

    if not settings.record_interactions:
        return "Learner questions are not recorded (COURSE_GUIDE_RECORD_INTERACTIONS=false), so there are no instructor insights."
    if configured_token(settings) is None:
        return "Instructor insights are off: set COURSE_GUIDE_INSTRUCTOR_TOKEN to a secret and restart to open /instructor."
    return f"Instructor insights: http://{settings.host}:{settings.port}/instructor (sign in with COURSE_GUIDE_INSTRUCTOR_TOKEN)."


@click.command()
@click.option("--host", help="Address to listen on [env: COURSE_GUIDE_HOST; default: 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env: COURSE_GUIDE_PORT; default: 7860].")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="Course folder the lesson links open [env: COURSE_GUIDE_CORPUS_DIR; default: the folder the index was built from].")
@db_option
def serve(host: str | None, port: int | None, corpus_dir: Path | None, db_dir: Path | None) -> None:
    """Serve the web chat and the course documents it cites."""
    import uvicorn

    from app.web.server import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Chroma server call otherwise
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the store's migrations say nothing unless they fail
    settings = make_settings(host=host, port=port, corpus_dir=corpus_dir, db_dir=db_dir)
    guide = guide_for(settings, require_index=False)
    try:
        guide.index.refresh()
    except IndexUnusableError as err:
        logging.getLogger("course_guide").warning(str(err))
    click.echo(f"Course Guide is serving at http://{settings.host}:{settings.port}", err=True)
    click.echo(instructor_line(settings), err=True)
    uvicorn.run(create_app(guide), host=settings.host, port=settings.port, log_level="warning")


