"""`course-guide quiz export` and `quiz import`: the course's item bank to GIFT, Moodle XML or a QTI zip, and a GIFT,
Aiken or Moodle XML file into a quiz file ingest reads. Files are read and written here; app.quiz.formats does the rest."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click
import yaml

from app.cli.common import db_option, guide_for, json_option, make_settings
from app.quiz.formats import EXPORT_FORMATS, IMPORT_FORMATS, FormatError, export_bank, guess_format, parse_bank
from app.quiz.formats.quiz_file import ImportProblem, quiz_file
from core.store import IndexUnusableError
from core.types import Chunk
from ingest.quizzes import QUIZ_FOLDER, QUIZ_SUFFIXES

force_option = click.option("--force", is_flag=True, help="Replace --out if it exists.")


def _db_dir(db_dir: Path | None) -> Path | None:
    """This subcommand's --db, else the one given to `quiz` before it (`course-guide quiz --db DIR export ...`)."""
    parent = click.get_current_context().parent
    return db_dir or (parent.params.get("db_dir") if parent is not None else None)


def _refuse_overwrite(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise click.ClickException(f"{out} already exists; pass --force to replace it, or choose another --out.")
    if not out.parent.is_dir() and out.parent.exists():
        raise click.ClickException(f"{out.parent} is not a folder; choose another --out.")


def _write_atomically(out: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder, so a failed write never leaves half a file at `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, out)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command("export")
@db_option
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True,
              help="gift and moodle-xml for Moodle, qti (a QTI 1.2 zip) for Canvas.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="File to write.")
@force_option
@json_option
def export_bank_command(db_dir: Path | None, fmt: str, out: Path, force: bool, as_json: bool) -> None:
    """Write the course's item bank (instructor and generated items) in a format another platform imports."""
    from app.quiz.bank import course_items

    _refuse_overwrite(out, force)
    settings = make_settings(db_dir=_db_dir(db_dir))
    guide = guide_for(settings)
    try:
        items = list(course_items(guide).values())
        data = export_bank(items, fmt)
    except IndexUnusableError as err:
        raise click.ClickException(str(err)) from None
    except FormatError as err:
        raise click.ClickException(f"Nothing to export: {err}.") from None
    try:
        _write_atomically(out, data)
    except OSError as err:
        raise click.ClickException(f"Cannot write {out} ({err.strerror}); choose another --out.") from None
    lessons = len({item.source for item in items})
    origins = {origin: sum(item.origin == origin for item in items) for origin in ("instructor", "generated")}
    if as_json:
        click.echo(json.dumps({"out": str(out), "format": fmt, "items": len(items), "lessons": lessons, **origins}))
        return
    click.echo(f"Wrote {len(items)} items ({origins['instructor']} instructor, {origins['generated']} generated) "
               f"from {lessons} lessons to {out} ({fmt}).")


def _ids_in_other_quiz_files(out: Path) -> set[str]:
    """Ids the other quiz files next to `out` use: ingest needs ids unique across the course."""
    taken: set[str] = set()
    folder = out.parent
    if not folder.is_dir():
        return taken
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in QUIZ_SUFFIXES or path.resolve() == out.resolve():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # ingest reports a broken quiz file itself; here it only means no ids to avoid from it
        items = data.get("items") if isinstance(data, dict) else data
        taken.update(str(item["id"]) for item in items or [] if isinstance(item, dict) and "id" in item)
    return taken


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS),
              help="The file's format [default: from its suffix: .gift, .xml, .aiken; .txt by its content].")
@click.option("--lesson", help="Lesson file (relative to the course folder) for items whose category names none.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Quiz file to write, e.g. corpus/quizzes/NAME.yaml.")
@force_option
@db_option
@json_option
def import_bank_command(file: Path, fmt: str | None, lesson: str | None, out: Path, force: bool, db_dir: Path | None,
                        as_json: bool) -> None:
    """Read a GIFT, Aiken or Moodle XML question file into a quiz file for the course (needs the course index)."""
    from core.index import IndexReader, open_store

    _refuse_overwrite(out, force)
    if out.suffix.lower() not in QUIZ_SUFFIXES:
        raise click.ClickException(f"--out {out} must end in .yaml or .yml: ingest reads only those quiz files.")
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "it is not UTF-8 text"
        raise click.ClickException(f"Cannot read {file} ({reason}); give a GIFT, Aiken or Moodle XML file saved as UTF-8.") from None
    try:
        fmt = fmt or guess_format(file, text)
        bank = parse_bank(text, fmt)
    except FormatError as err:
        raise click.ClickException(f"{file} {err}" if str(err).startswith("is ") else f"{file}: {err}") from None
    if not bank.items and not bank.skipped:
        raise click.ClickException(f"{file} has no questions in {fmt} format; check the file, or pass the right --format.")
    settings = make_settings(db_dir=_db_dir(db_dir))
    try:
        reader = IndexReader(open_store(settings))
        try:
            reader.refresh()
            chunks = reader.chunks()
        finally:
            reader.close()
        chunks_by_source: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            chunks_by_source.setdefault(chunk.source, []).append(chunk)
        result = quiz_file(bank, chunks_by_source, lesson, _ids_in_other_quiz_files(out))
    except IndexUnusableError as err:
        raise click.ClickException(str(err)) from None
    except ImportProblem as err:
        raise click.ClickException(f"{file}: {err} Nothing was written.") from None
    skipped_lines = [f"  {problem.message()}" for problem in result.skipped]
    if not result.items:
        raise click.ClickException("\n".join([f"None of the {len(result.skipped)} questions in {file} can be imported; "
                                              "nothing was written:", *skipped_lines]))
    try:
        _write_atomically(out, result.to_yaml(f"{file.name} ({fmt})").encode("utf-8"))
    except OSError as err:
        raise click.ClickException(f"Cannot write {out} ({err.strerror}); choose another --out.") from None
    if as_json:
        click.echo(json.dumps({"out": str(out), "format": fmt, "imported": len(result.items),
                               "skipped": [{"where": s.where, "kind": s.kind, "reason": s.reason} for s in result.skipped]},
                              ensure_ascii=False))
        return
    click.echo(f"Imported {len(result.items)} items from {file} ({fmt}) into {out}; skipped {len(result.skipped)}"
               + (":" if skipped_lines else "."))
    for line in skipped_lines:
        click.echo(line)
    quiz_folder = (Path(settings.corpus_dir) / QUIZ_FOLDER).resolve()
    if out.resolve().parent != quiz_folder:
        click.echo(f"Note: ingest reads quiz files from {quiz_folder}/; move {out.name} there.")
    click.echo("Run `course-guide ingest` to add them to the course.")
