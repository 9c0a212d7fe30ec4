"""`course-guide ask`: answer one question, or a batch of JSON lines on stdin, from the course."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.common import db_option, guide_for, json_option, make_settings


def _read_history(path: Path | None) -> list | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise click.ClickException(
            f"Cannot read the history file {path}: {err}. It must be a JSON list of {{\"role\", \"content\"}} messages."
        ) from None


def _batch_request(line: str) -> tuple[str, object, object]:
    """(question, history, lesson) from one batch line: a plain question, or a JSON object with a 'question'."""
    if not line.startswith("{"):
        return line, None, None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err}); send a plain question or {{\"question\": ..., \"history\": [...]}}") from None
    if not isinstance(record, dict) or not isinstance(record.get("question"), str):
        raise ValueError('a JSON line needs a "question" string')
    return record["question"], record.get("history"), record.get("lesson")


@click.command()
@click.argument("question")
@db_option
@click.option("--history", "history_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with the conversation so far: [{\"role\": \"user\"|\"assistant\", \"content\": ...}].")
@click.option("--lesson", help="The lesson the learner is on (file name, or its name without number), to prefer its passages.")
@json_option
def ask(question: str, db_dir: Path | None, history_file: Path | None, lesson: str | None, as_json: bool) -> None:
    """Answer QUESTION from the course. With QUESTION '-', answer stdin's lines as JSON lines: each a plain
    question or a JSON object {"question", "history", "lesson"}."""
    from app.engine.answer import answer_question
    from app.engine.questions import QuestionError

    settings = make_settings(db_dir=db_dir)
    history = _read_history(history_file)
    guide = guide_for(settings)
    if question == "-":
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            try:
                asked, line_history, line_lesson = _batch_request(line.strip())
                record = answer_question(guide, asked, line_history, line_lesson).to_dict()
            except (QuestionError, ValueError) as err:
                record = {"line": number, "question": line.strip(), "error": str(err)}
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


