"""`course-guide ingest`: index a course folder, embedding only what is new or changed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.common import db_option, json_option, load_model, make_settings


@click.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="Course folder [env: COURSE_GUIDE_CORPUS_DIR; default: corpus].")
@db_option
@click.option("--strict", is_flag=True, help="Fail, and leave the index unchanged, if any file cannot be ingested.")
@json_option
def ingest(corpus_dir: Path | None, db_dir: Path | None, strict: bool, as_json: bool) -> None:
    """Index a course folder: Markdown, text, HTML and PDF. Only new or changed text is embedded."""
    from ingest.pipeline import IngestError, ingest_corpus

    settings = make_settings(corpus_dir=corpus_dir, db_dir=db_dir)
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


