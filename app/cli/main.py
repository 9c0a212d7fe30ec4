"""The `course-guide` click group. Each command lives in its own module and is registered here."""
from __future__ import annotations

import click

from app.cli import ask, calibrate, course, ingest, insights, lti, quiz, serve
from eval.cli import eval_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="course-guide")
def main() -> None:
    """Course Guide: answers learners' questions from your course documents, with citations."""


main.add_command(course.course)
main.add_command(ingest.ingest)
main.add_command(ask.ask)
main.add_command(serve.serve)
main.add_command(calibrate.calibrate)
main.add_command(quiz.quiz)
main.add_command(insights.insights)
main.add_command(lti.lti)
main.add_command(eval_group)


if __name__ == "__main__":  # `python -m app.cli.main`, e.g. from a checkout without the console script
    main()
