"""`course-guide ask`: answer one question, or a batch of JSON lines on stdin, from the course."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel, ConfigDict, StrictStr

from app.cli.common import course_option, db_option, guide_for, json_option, make_settings
from core.files import JsonLine, json_lines, parse_line


def _read_history(path: Path | None) -> list | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise click.ClickException(
            f"Cannot read the history file {path}: {err}. It must be a JSON list of {{\"role\", \"content\"}} messages."
        ) from None


class BatchLine(BaseModel):
    """One JSON line of `ask -`: a question, and optionally the conversation so far and the lesson the learner is on."""

    model_config = ConfigDict(extra="forbid")
    question: StrictStr
    history: list[Any] | None = None  # checked by the answer function, which says which message is wrong
    lesson: StrictStr | None = None


def _batch_lines(lines: Iterable[str]) -> Iterator[tuple[JsonLine, BatchLine | None, str | None]]:
    """Each line as a batch request: a plain question, or a JSON object; a bad line gets a reason, and the rest go on."""
    for line in json_lines(lines):
        if not line.text.startswith("{"):
            yield line, BatchLine(question=line.text), None
            continue
        request, problem = parse_line(BatchLine, line)
        reason = f"{problem}; a JSON line needs a \"question\" string, and may add \"history\" and \"lesson\"" if problem else None
        yield line, request if isinstance(request, BatchLine) else None, reason


@click.command()
@click.argument("question")
@db_option
@course_option
@click.option("--history", "history_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with the conversation so far: [{\"role\": \"user\"|\"assistant\", \"content\": ...}].")
@click.option("--lesson", help="The lesson the learner is on (file name, or its name without number), to prefer its passages.")
@json_option
def ask(question: str, db_dir: Path | None, course: str | None, history_file: Path | None, lesson: str | None, as_json: bool) -> None:
    """Answer QUESTION from the course. With QUESTION '-', answer stdin's lines as JSON lines: each a plain
    question or a JSON object {"question", "history", "lesson"}."""
    from app.engine.answer import answer_question
    from app.engine.questions import QuestionError

    settings = make_settings(db_dir=db_dir, course=course)
    history = _read_history(history_file)
    guide = guide_for(settings)
    if question == "-":
        answered = 0
        for line, request, problem in _batch_lines(sys.stdin):
            record: dict[str, Any]
            if request is not None and answered >= settings.max_batch_questions:
                record = {"line": line.number, "question": line.text, "error": (
                    f"over the limit of {settings.max_batch_questions} questions per batch (COURSE_GUIDE_MAX_BATCH_QUESTIONS); "
                    "send the rest as another batch")}
            elif request is None:
                record = {"line": line.number, "question": line.text, "error": problem}
            else:
                answered += 1
                try:
                    record = answer_question(guide, request.question, request.history, request.lesson).to_dict()
                except QuestionError as err:
                    record = {"line": line.number, "question": line.text, "error": str(err)}
            click.echo(json.dumps(record, ensure_ascii=False))
        return
    try:
        answer = answer_question(guide, question, history, lesson)
    except QuestionError as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    if answer.notice:
        click.echo(f"Note: {answer.notice}\n")
    if answer.standalone_question and answer.standalone_question != answer.question:
        click.echo(f"(Answering: {answer.standalone_question})\n")
    click.echo(answer.answer)
    if answer.citations:
        click.echo("\nSources:")
        for citation in answer.citations:
            chunk = next(r.chunk for r in answer.retrieved if r.chunk.id == citation.chunk_id)
            click.echo(f"  [{citation.n}] {chunk.location()}\n      {citation.url}")


