"""Follow-up questions: offline rewriting, answers in a conversation, and the CLI's --history and JSON-lines batch."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.engine.answer import answer_question
from app.engine.conversation import condense, is_follow_up
from app.engine.questions import QuestionError
from tests.conftest import REPO


def turns(*questions: str) -> list[dict]:
    history = []
    for question in questions:
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": "An answer from the course. [1]"}]
    return history


@pytest.mark.parametrize(
    "history, question, standalone",
    [
        (turns("What is data drift?"), "What are its drawbacks?", "What are data drift's drawbacks?"),
        (turns("What is TorchServe?"), "Is it still a good choice today?", "Is TorchServe still a good choice today?"),
        (turns("What is a data contract?"), "Why does that matter?", "Why does data contract matter?"),
        (turns("What does idempotent mean for a pipeline step?"), "Give me an example of that.", "Give me an example of idempotent."),
        (turns("What is a feature store?"), "Does every team need one?", "Does every team need one? (about feature store)"),
        (turns("What are end-to-end ML platforms?"), "What's the catch?", "What's the catch? (about end-to-end ML platforms)"),
        (turns("What is a feature store?", "What are its benefits?"), "And how do I version them?", "And how do I version feature store?"),
        (turns("What is MLOps?"), "What is a model registry?", "What is a model registry?"),
        ([], "What are its drawbacks?", "What are its drawbacks?"),
    ],
    ids=["its", "it", "that", "that-object", "one", "the-catch", "two-levels-back", "new-topic", "no-history"],
)
def test_follow_ups_are_rewritten_to_stand_alone(history, question, standalone):
    assert condense(question, history) == standalone


def test_a_new_question_in_a_conversation_is_not_a_follow_up():
    history = turns("What is data drift?")
    assert not is_follow_up("How does a canary release route traffic to the new model?", history)
    assert not is_follow_up("Is there a hosted alternative that people like for deep learning?", [])


def test_follow_up_is_answered_about_the_conversation_topic(shipped_guide):
    history = turns("What is data drift?")
    answer = answer_question(shipped_guide, "How is it detected?", history=history)
    assert answer.question == "How is it detected?"
    assert answer.standalone_question == "How is data drift detected?"
    assert not answer.refused and answer.citations[0].source == "09-model-monitoring.md"
    # The same words without the conversation are about nothing in particular.
    alone = answer_question(shipped_guide, "How is it detected?")
    assert alone.standalone_question == "How is it detected?"


def test_follow_up_on_an_out_of_scope_topic_is_refused(shipped_guide):
    answer = answer_question(shipped_guide, "What are its drawbacks?", history=turns("What is a Helm chart?"))
    assert answer.refused


@pytest.mark.parametrize(
    "history, message",
    [
        ({"role": "user"}, "must be a list of messages"),
        ([{"role": "system", "content": "x"}], "History message 1"),
        ([{"role": "user", "content": 42}], "History message 1"),
        (["What is MLOps?"], "History message 1"),
    ],
    ids=["not-a-list", "system-role", "number-content", "bare-string"],
)
def test_bad_history_gets_a_clear_error(shipped_guide, history, message):
    with pytest.raises(QuestionError, match=message):
        answer_question(shipped_guide, "What are its drawbacks?", history=history)


def test_cli_history_file(shipped_settings, tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps(turns("What is a canary release?")))
    result = CliRunner().invoke(main, ["ask", "What are its risks?", "--history", str(path), "--db", str(shipped_settings.db_dir), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "What are its risks?" and "canary release" in data["standalone_question"]


@pytest.mark.parametrize(
    "content, message",
    [("[{not json", "Cannot read the history file"), ('{"role": "user"}', "must be a list of messages")],
    ids=["invalid-json", "object-not-list"],
)
def test_cli_bad_history_file_is_one_line(shipped_settings, tmp_path, content, message):
    path = tmp_path / "history.json"
    path.write_text(content)
    result = CliRunner().invoke(main, ["ask", "What are its risks?", "--history", str(path), "--db", str(shipped_settings.db_dir)])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_cli_batch_takes_plain_lines_and_json_objects(shipped_settings):
    lines = [
        "What is a model registry?",
        json.dumps({"question": "How is it detected?", "history": turns("What is data drift?")}),
        "{not json",
        json.dumps({"history": []}),
        json.dumps({"question": "What is MLOps?", "lesson": "no-such-lesson"}),
        json.dumps({"question": "What is MLOps?", "lesson": 5}),  # once an AttributeError that lost the rest of the batch
        "What is a feature store?",
    ]
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "course-guide"), "ask", "-", "--db", str(shipped_settings.db_dir)],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 7
    assert records[0]["citations"][0]["source"] == "06-model-registry-and-packaging.md"
    assert records[1]["standalone_question"] == "How is data drift detected?"
    assert records[2]["line"] == 3 and "not valid JSON" in records[2]["error"]
    assert records[3]["line"] == 4 and '"question" string' in records[3]["error"]
    assert records[4]["line"] == 5 and "no lesson called" in records[4]["error"]
    assert records[5]["line"] == 6 and "'lesson'" in records[5]["error"] and "Traceback" not in result.stderr
    assert records[6]["citations"], "the line after a bad one is still answered"


def test_chat_shows_how_a_follow_up_was_understood(shipped_guide):
    from app.web.chat import answer_preamble

    follow_up = answer_question(shipped_guide, "How is it detected?", history=turns("What is data drift?"))
    assert answer_preamble(follow_up) == "*Answering: How is data drift detected?*\n\n"
    assert answer_preamble(answer_question(shipped_guide, "What is data drift?")) == ""
