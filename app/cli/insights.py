"""`course-guide insights`: what learners asked, the course's gaps and the unhelpful answers, as HTML or JSON; and `insights forget`."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from app.cli.common import course_option, db_option, json_option, load_model, make_settings, opened_store


def _course_lessons(settings) -> dict[str, str]:
    from core.index import IndexReader, open_store
    from core.store import IndexUnusableError

    try:
        return {source: entry.title for source, entry in IndexReader(open_store(settings)).refresh().files.items()}
    except IndexUnusableError:
        return {}


@click.group(invoke_without_command=True)
@click.option("--since", help="Only questions from this long ago on: 7d, 12h, 2w, or a date such as 2026-09-01 [default: all kept].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for insights.html [default: insights].")
@json_option
@db_option
@course_option
@click.pass_context
def insights(ctx: click.Context, since: str | None, out_dir: Path | None, as_json: bool, db_dir: Path | None, course: str | None) -> None:
    """What learners asked, where the course has gaps and which answers did not help: a self-contained HTML
    report, or with --json one object (questions, refused, feedback, gaps, ...). Reads the interaction store
    (COURSE_GUIDE_STATE_DIR or COURSE_GUIDE_STORE_URL)."""
    if ctx.invoked_subcommand is not None:
        return
    from app.insights.analysis import parse_since, summary
    from app.insights.report import render

    settings = make_settings(db_dir=db_dir, course=course)
    try:
        start = parse_since(since, datetime.now(timezone.utc))
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--since") from None
    with opened_store(settings) as store:
        data = summary(store, settings, load_model(settings), since=start, course_lessons=_course_lessons(settings))
    if as_json:
        data.pop("recent")
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    folder = out_dir or Path("insights")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "insights.html"
    path.write_text(render(data, course=settings.course_label(), dashboard=False), encoding="utf-8")
    click.echo(f"{data['questions']} questions, {data['refused']} refused, {len(data['gaps'])} gap groups: wrote {path}")


@insights.command()
@click.option("--learner", required=True, help="The learner id to forget (the widget's or the chat's anonymous id, or the API's 'learner').")
def forget(learner: str) -> None:
    """Delete every question and vote of one learner."""
    settings = make_settings()
    with opened_store(settings) as store:
        deleted = store.forget(learner)
    click.echo(f"Deleted {deleted} question{'' if deleted == 1 else 's'} (and their votes) of learner {learner}.")
