"""Refusal calibration: the threshold rule on hand-computed scores, and bad calibration files."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli.main import main
from eval.calibration import CalibrationError, choose_threshold, read_labelled_questions


def test_threshold_is_the_middle_of_the_gap_between_separable_groups():
    # in-scope 0.5..0.7, out-of-scope 0.1..0.3: every cut in (0.3, 0.5] is perfect; the middle is 0.4.
    assert choose_threshold([0.5, 0.6, 0.7], [0.1, 0.2, 0.3]) == 0.4


def test_threshold_takes_the_widest_run_of_best_cuts_not_the_span_of_all():
    # Sorted: .35i .42o .55i .68i .92o .93o .94i .95o. Only cuts in (.42, .55] reach balanced accuracy 0.5
    # (3/4 answered, 1/4 refused), so the threshold is their middle, 0.485.
    assert choose_threshold([0.94, 0.55, 0.35, 0.68], [0.95, 0.93, 0.42, 0.92]) == 0.485


def test_overlapping_groups_pick_the_best_balanced_cut():
    # Cut in (0.4, 0.45]: answered 3/4 (0.45, 0.6, 0.8), refused 3/3 (0.2, 0.3, 0.4) -> 0.875, the best.
    assert choose_threshold([0.35, 0.45, 0.6, 0.8], [0.2, 0.3, 0.4]) == 0.425


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "What is DVC?", "in_scope": "false"}', "'in_scope' must be true or false"),
        ('{"question": "What is DVC?"}', "expected a JSON object"),
        ("not json", "expected a JSON object"),
        ('{"question": 42, "in_scope": true}', "'question' must be a string"),
    ],
    ids=["quoted-bool", "missing-label", "not-json", "number-question"],
)
def test_bad_calibration_line_is_named(tmp_path, line, message):
    path = tmp_path / "questions.jsonl"
    path.write_text('{"question": "What is MLOps?", "in_scope": true}\n' + line + "\n")
    with pytest.raises(CalibrationError, match=f"questions.jsonl:2: .*{message}"):
        read_labelled_questions(path)


def test_calibrate_cli_reports_an_unusable_question_in_one_line(shipped_settings, tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"question": "What is MLOps?", "in_scope": True},
        {"question": "   ", "in_scope": False},
    ]))
    result = CliRunner().invoke(main, ["calibrate", "--db", str(shipped_settings.db_dir), "--questions", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "question 2" in result.output and "Please type a question" in result.output


def test_calibrate_cli_prints_the_threshold(shipped_settings):
    from tests.conftest import REPO

    dataset = REPO / "eval" / "datasets" / "refusal_calibration.jsonl"
    result = CliRunner().invoke(main, ["calibrate", "--db", str(shipped_settings.db_dir), "--questions", str(dataset), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["in_scope"] == 60 and data["out_of_scope"] == 40 and 0.2 < data["threshold"] < 0.6
