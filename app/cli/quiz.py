"""`course-guide quiz`: print quiz items, or grade replies given as JSON lines; its `export` and `import` subcommands
(app/cli/quiz_bank.py) move the item bank to and from other platforms' formats."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pydantic import BaseModel, ConfigDict, StrictStr

from app.cli import quiz_bank
from app.cli.common import course_option, db_option, guide_for, json_option, make_settings
from core.files import json_lines, parse_line
from core.quiz import CHOICE_LETTERS
from core.store import IndexUnusableError


class GradeLine(BaseModel):
    """One line of `quiz --grade`: the item answered and the learner's reply."""

    model_config = ConfigDict(extra="ignore")
    item_id: StrictStr
    reply: StrictStr


@click.group(invoke_without_command=True)
@db_option
@course_option
@click.option("--topic", help="Only items on this topic, e.g. 'model monitoring' (default: a mix of every lesson).")
@click.option("--n", "count", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many items.")
@click.option("--grade", "grade_stdin", is_flag=True,
              help="Grade replies instead: read {item_id, reply} JSON lines on stdin, write one grade JSON line each.")
@json_option
@click.pass_context
def quiz(ctx: click.Context, db_dir: Path | None, course: str | None, topic: str | None, count: int, grade_stdin: bool, as_json: bool) -> None:
    """Print quiz items (instructor-written and generated from the course), or grade replies with --grade.

    `quiz export` and `quiz import` move the item bank to and from Canvas, Moodle and other platforms."""
    if ctx.invoked_subcommand is not None:
        return
    from app.quiz.bank import QuizError, course_items, quiz_items_for
    from app.quiz.grading import grade_reply

    settings = make_settings(db_dir=db_dir, course=course)
    guide = guide_for(settings)
    try:
        items = course_items(guide)
        chosen = [] if grade_stdin else quiz_items_for(guide, topic, count)
    except (IndexUnusableError, QuizError) as err:
        raise click.ClickException(str(err)) from None
    if grade_stdin:
        for line in json_lines(sys.stdin):
            request, problem = parse_line(GradeLine, line)
            if not isinstance(request, GradeLine):
                click.echo(json.dumps({"line": line.number, "error": f"expected {{\"item_id\": ..., \"reply\": ...}} JSON: {problem}"}))
                continue
            item_id, reply = request.item_id, request.reply
            if item_id not in items:
                click.echo(json.dumps({"item_id": item_id, "error": f"no quiz item '{item_id}'; list them with `course-guide quiz --json`"}))
                continue
            click.echo(json.dumps(grade_reply(items[item_id], reply, guide.embedder).to_dict(), ensure_ascii=False))
        return
    if as_json:
        for item in chosen:
            click.echo(json.dumps(item.to_dict(), ensure_ascii=False))
        return
    for number, item in enumerate(chosen, start=1):
        click.echo(f"{number}. [{item.type}, {item.origin}] {item.question}")
        for letter, choice in zip(CHOICE_LETTERS, item.choices if item.type == "multiple_choice" else []):
            click.echo(f"     {letter}. {choice}")
        click.echo(f"   answer: {item.answer}\n   source: {item.source} > {item.section.split(' > ')[-1]}  ({item.id})")


quiz.add_command(quiz_bank.export_bank_command)
quiz.add_command(quiz_bank.import_bank_command)
