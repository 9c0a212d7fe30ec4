"""`course-guide course add|update|list|remove`: the courses one deployment serves, each under /c/NAME/ with its own
index, quiz bank, learner records, allowed sites and instructor token; running servers follow at once."""
from __future__ import annotations

import json
from pathlib import Path

import click

from app.cli.common import db_option, json_option, make_settings, opened_store

origin_option = click.option("--origin", "origins", multiple=True,
                             help="A course site (scheme://host[:port]) that may use this course's API and frame its pages; repeat for more.")
token_option = click.option("--instructor-token-file", "token_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            help="A file holding the course's own instructor token (it opens this course's instructor pages only).")


def _token(token_file: Path | None) -> str | None:
    """The course token from its file (never from the command line, where other users can see it in `ps`)."""
    if token_file is None:
        return None
    token = token_file.read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise click.ClickException(f"The token in {token_file} is shorter than 16 characters; write a long random one, e.g. "
                                   "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE`.")
    return token


def _show(record, as_json: bool) -> None:
    data = record.to_dict()
    if as_json:
        click.echo(json.dumps(data))
        return
    origins = ", ".join(data["allowed_origins"]) or "none of its own"
    token = "its own" if data["has_instructor_token"] else "the deployment's only"
    click.echo(f"{data['name']}: {data['title']} · folder {data['corpus_dir']} · served at {data['path']} · sites: {origins} · "
               f"instructor token: {token}")


@click.group()
def course() -> None:
    """The courses this deployment serves (see README 'Many courses')."""


@course.command("add")
@click.argument("name")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), required=True, help="The course's folder of documents.")
@click.option("--title", help="The course's name as learners see it [default: NAME].")
@origin_option
@token_option
@click.option("--no-ingest", is_flag=True, help="Only register the course; index it later with `course-guide ingest --course NAME`.")
@db_option
@json_option
def add(name: str, corpus_dir: Path, title: str | None, origins: tuple[str, ...], token_file: Path | None, no_ingest: bool,
        db_dir: Path | None, as_json: bool) -> None:
    """Register course NAME (lower-case letters, digits, hyphens) and index its folder; servers serve it at /c/NAME/."""
    from app.cli.ingest import run_ingest
    from app.courses import CourseError, add_course

    settings = make_settings(db_dir=db_dir, resolve_course=False)
    with opened_store(settings) as store:
        try:
            record = add_course(store, name, corpus_dir, title=title, allowed_origins=list(origins), instructor_token=_token(token_file))
        except CourseError as err:
            raise click.ClickException(str(err)) from None
    _show(record, as_json)
    if not no_ingest:
        run_ingest(make_settings(db_dir=db_dir, course=record.name), as_json=as_json)


@course.command("update")
@click.argument("name")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), help="A new folder of documents (then run ingest).")
@click.option("--title", help="A new title.")
@origin_option
@click.option("--no-origins", is_flag=True, help="Remove the course's own sites (the deployment's allowlist still applies).")
@token_option
@click.option("--no-instructor-token", is_flag=True, help="Remove the course's own token (the deployment's still opens its pages).")
@db_option
@json_option
def update(name: str, corpus_dir: Path | None, title: str | None, origins: tuple[str, ...], no_origins: bool, token_file: Path | None,
           no_instructor_token: bool, db_dir: Path | None, as_json: bool) -> None:
    """Change a registered course; running servers rebuild its app on their next request to it."""
    from app.courses import CourseError, update_course

    settings = make_settings(db_dir=db_dir, resolve_course=False)
    with opened_store(settings) as store:
        try:
            record = update_course(store, name, corpus_dir=corpus_dir, title=title,
                                   allowed_origins=[] if no_origins else (list(origins) or None),
                                   instructor_token=_token(token_file), clear_instructor_token=no_instructor_token)
        except CourseError as err:
            raise click.ClickException(str(err)) from None
    _show(record, as_json)


@course.command("list")
@db_option
@json_option
def list_command(db_dir: Path | None, as_json: bool) -> None:
    """Every registered course."""
    from app.courses import list_courses

    settings = make_settings(db_dir=db_dir, resolve_course=False)
    with opened_store(settings) as store:
        records = list_courses(store)
    if as_json:
        click.echo(json.dumps({"courses": [r.to_dict() for r in records]}))
        return
    if not records:
        click.echo("No courses are registered; the deployment serves its default course at /. Add one with "
                   "`course-guide course add NAME --corpus FOLDER`.")
    for record in records:
        _show(record, False)


@course.command("remove")
@click.argument("name")
@click.option("--keep-records", is_flag=True, help="Keep the course's learner records (questions, quiz attempts, review cards).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
@json_option
def remove(name: str, keep_records: bool, yes: bool, db_dir: Path | None, as_json: bool) -> None:
    """Stop serving course NAME and delete its index (and, unless --keep-records, its learner records). Its documents stay."""
    from app.courses import UnknownCourseError, course_settings, get_course, unregister_course
    from core.index import open_store
    from core.store import IndexUnusableError

    settings = make_settings(db_dir=db_dir, resolve_course=False)
    if not yes and not click.confirm(f"Remove course {name!r}, its index{'' if keep_records else ' and its learner records'}?"):
        raise click.ClickException("Nothing was removed.")
    with opened_store(settings) as store:
        record = get_course(store, name)
        if record is None:
            raise click.ClickException(str(UnknownCourseError(name)))
        # The registry entry goes first: from then on no server serves the course, so nothing reads what is deleted next.
        unregister_course(store, name)
        try:
            open_store(course_settings(settings, record)).remove_all()
        except (IndexUnusableError, OSError) as err:
            raise click.ClickException(f"Course {name} is no longer served, but its index could not be deleted ({err}); "
                                       f"delete it by hand, or re-add the course and remove it again.") from None
        deleted = 0 if keep_records else store.for_course(name).forget_course()
    result = {"removed": name, "index_deleted": True, "questions_deleted": deleted, "records_kept": keep_records}
    click.echo(json.dumps(result) if as_json else
               f"Removed course {name}: its index is deleted" + ("; its learner records are kept." if keep_records else
                                                                  f", and {deleted} learner question{'' if deleted == 1 else 's'} with it."))

