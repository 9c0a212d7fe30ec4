"""`course-guide calibrate`: find the refusal threshold that best separates covered from off-course questions."""
from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli.common import db_option, guide_for, json_option, make_settings
from core.store import IndexUnusableError


@click.command()
@click.option("--questions", "questions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="JSONL of {question, in_scope} lines, in-scope and out-of-scope questions about your course.")
@db_option
@json_option
def calibrate(questions_file: Path, db_dir: Path | None, as_json: bool) -> None:
    """Find the refusal threshold that best separates in-scope from out-of-scope questions on this index."""
    from eval.calibration import (
        CalibrationError,
        calibrate_refusal,
        read_labelled_questions,
    )

    settings = make_settings(db_dir=db_dir)
    try:
        questions = read_labelled_questions(questions_file)
        guide = guide_for(settings)
        result = calibrate_refusal(guide, questions)
    except (CalibrationError, IndexUnusableError) as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(result.describe())
    click.echo(f"\nSet them with: export COURSE_GUIDE_REFUSAL_THRESHOLD={result.threshold} "
               f"COURSE_GUIDE_REFUSAL_LEXICAL_FLOOR={result.lexical_floor} COURSE_GUIDE_REFUSAL_MEANING_LIMIT={result.meaning_limit}")

