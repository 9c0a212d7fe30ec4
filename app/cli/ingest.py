"""`course-guide ingest`: index a course folder, embedding only what is new or changed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.common import course_option, db_option, json_option, load_model, make_settings, opened_store


@click.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Course folder [env: COURSE_GUIDE_CORPUS_DIR; default: corpus].")
@db_option
@course_option
@click.option("--strict", is_flag=True, help="Fail, and leave the index unchanged, if any file cannot be ingested.")
@json_option
def ingest(corpus_dir: Path | None, db_dir: Path | None, course: str | None, strict: bool, as_json: bool) -> None:
    """Index a course folder: Markdown, text, HTML and PDF. Only new or changed text is embedded.

    With --course, the registered course's folder (--corpus changes it in the registry first)."""
    settings = make_settings(corpus_dir=corpus_dir, db_dir=db_dir, course=course)
    if settings.course and corpus_dir is not None:
        from app.courses import CourseError, update_course

        with opened_store(settings) as store:
            try:
                update_course(store, settings.course, corpus_dir=corpus_dir)
            except CourseError as err:
                raise click.ClickException(str(err)) from None
        settings = make_settings(db_dir=db_dir, course=course)
    run_ingest(settings, strict=strict, as_json=as_json)


def run_ingest(settings, *, strict: bool = False, as_json: bool = False) -> None:
    """Ingest the course `settings` name and print the report (also `course add`'s first ingest)."""
    from ingest.pipeline import IngestError, ingest_corpus

    try:
        report = ingest_corpus(
            settings,
            lambda: load_model(settings),
            strict=strict,
            progress=not as_json and sys.stderr.isatty(),
            log=lambda message: click.echo(message, err=True),
        )
    except IngestError as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(report.to_dict()) if as_json else report.summary_line())


