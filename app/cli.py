"""The course-guide command line: ingest, ask, serve and calibrate. Errors become one-line messages here, and only here."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from core.index import IndexReader, IndexUnusableError, open_store
from core.settings import Settings, use_offline_environment

# Before any command imports chromadb, gradio or transformers, which read these at import time.
use_offline_environment()


def make_settings(**flags: Any) -> Settings:
    """Environment first, then any flag the user passed (flags left as None keep the environment's value)."""
    try:
        return Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValueError as err:
        raise click.ClickException(f"Invalid setting: {err}. See `course-guide --help` and README 'Settings'.") from None


def _embedder(settings: Settings):
    from core.model import load_embedder

    try:
        return load_embedder(settings.model_path)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from None


db_option = click.option("--db", "db_dir", type=click.Path(path_type=Path), help="Index folder [env: COURSE_GUIDE_DB_DIR; default: index].")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="course-guide")
def main() -> None:
    """Course Guide: answers learners' questions from your course documents, with citations."""


@main.command()
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
            lambda: _embedder(settings),
            strict=strict,
            progress=not as_json and sys.stderr.isatty(),
            log=lambda message: click.echo(message, err=True),
        )
    except IngestError as err:
        raise click.ClickException(str(err)) from None
    click.echo(json.dumps(report.to_dict()) if as_json else report.summary_line())


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


@main.command()
@click.argument("question")
@db_option
@click.option("--history", "history_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with the conversation so far: [{\"role\": \"user\"|\"assistant\", \"content\": ...}].")
@click.option("--lesson", help="The lesson the learner is on (file name, or its name without number), to prefer its passages.")
@json_option
def ask(question: str, db_dir: Path | None, history_file: Path | None, lesson: str | None, as_json: bool) -> None:
    """Answer QUESTION from the course. With QUESTION '-', answer stdin's lines as JSON lines: each a plain
    question or a JSON object {"question", "history", "lesson"}."""
    from app.answer import Guide, QuestionError, answer_question

    settings = make_settings(db_dir=db_dir)
    history = _read_history(history_file)
    index = IndexReader(open_store(settings))
    try:
        index.refresh()  # before the slow model load, so a missing index is reported at once
    except IndexUnusableError as err:
        raise click.ClickException(str(err)) from None
    guide = Guide(settings, _embedder(settings), index)
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


@main.command()
@click.option("--host", help="Address to listen on [env: COURSE_GUIDE_HOST; default: 127.0.0.1].")
@click.option("--port", type=int, help="Port to listen on [env: COURSE_GUIDE_PORT; default: 7860].")
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path),
              help="Course folder the lesson links open [env: COURSE_GUIDE_CORPUS_DIR; default: the folder the index was built from].")
@db_option
def serve(host: str | None, port: int | None, corpus_dir: Path | None, db_dir: Path | None) -> None:
    """Serve the web chat and the course documents it cites."""
    import uvicorn

    from app.answer import Guide
    from app.web import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Chroma server call otherwise
    settings = make_settings(host=host, port=port, corpus_dir=corpus_dir, db_dir=db_dir)
    guide = Guide(settings, _embedder(settings), IndexReader(open_store(settings)))
    try:
        guide.index.refresh()
    except IndexUnusableError as err:
        logging.getLogger("course_guide").warning(str(err))
    click.echo(f"Course Guide is serving at http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(create_app(guide), host=settings.host, port=settings.port, log_level="warning")


@main.command()
@click.option("--questions", "questions_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="JSONL of {question, in_scope} lines, in-scope and out-of-scope questions about your course.")
@db_option
@json_option
def calibrate(questions_file: Path, db_dir: Path | None, as_json: bool) -> None:
    """Find the refusal threshold that best separates in-scope from out-of-scope questions on this index."""
    from app.answer import Guide
    from eval.calibration import CalibrationError, calibrate_refusal, read_labelled_questions

    settings = make_settings(db_dir=db_dir)
    try:
        questions = read_labelled_questions(questions_file)
        guide = Guide(settings, _embedder(settings), IndexReader(open_store(settings)))
        result = calibrate_refusal(guide, questions)
    except (CalibrationError, IndexUnusableError) as err:
        raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(result.describe())
    click.echo(f"\nSet it with: export COURSE_GUIDE_REFUSAL_THRESHOLD={result.threshold}")


from eval.cli import eval_group  # noqa: E402  (eval's CLI builds on the helpers above)

main.add_command(eval_group)
@main.command()
@db_option
@click.option("--topic", help="Only items on this topic, e.g. 'model monitoring' (default: a mix of every lesson).")
@click.option("--n", "count", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many items.")
@click.option("--grade", "grade_stdin", is_flag=True,
              help="Grade replies instead: read {item_id, reply} JSON lines on stdin, write one grade JSON line each.")
@json_option
def quiz(db_dir: Path | None, topic: str | None, count: int, grade_stdin: bool, as_json: bool) -> None:
    """Print quiz items (instructor-written and generated from the course), or grade replies with --grade."""
    from app.answer import Guide
    from app.quiz import QuizError, course_items, grade_reply, quiz_items_for

    settings = make_settings(db_dir=db_dir)
    index = IndexReader(open_store(settings))
    try:
        index.refresh()
        guide = Guide(settings, _embedder(settings), index)
        items = course_items(guide)
        chosen = [] if grade_stdin else quiz_items_for(guide, topic, count)
    except (IndexUnusableError, QuizError) as err:
        raise click.ClickException(str(err)) from None
    if grade_stdin:
        for number, line in enumerate(sys.stdin, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                item_id, reply = record["item_id"], record["reply"]
                if not isinstance(reply, str):
                    raise TypeError("'reply' must be a string")
            except (ValueError, KeyError, TypeError) as err:
                click.echo(json.dumps({"line": number, "error": f"expected {{\"item_id\": ..., \"reply\": ...}} JSON: {err}"}))
                continue
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
        for letter, choice in zip("ABCDEFGH", item.choices if item.type == "multiple_choice" else []):
            click.echo(f"     {letter}. {choice}")
        click.echo(f"   answer: {item.answer}\n   source: {item.source} > {item.section.split(' > ')[-1]}  ({item.id})")
