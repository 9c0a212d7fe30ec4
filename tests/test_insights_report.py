"""Course gaps grouped by meaning with the real model, eval lines the harness accepts, and `course-guide insights` as a user runs it."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.engine.answer import answer_question
from app.insights.analysis import eval_lines, gap_groups, parse_since
from app.insights.recording import interaction_row
from app.insights.store import InteractionStore, now
from eval.dataset import parse_case

UNCOVERED = [
    "How do I write a Helm chart for my model server?", "What goes into a Helm chart's values file?", "How do I install a Helm chart on Kubernetes?",
    "How do I fine-tune a language model with LoRA?", "How do I fine-tune a model with LoRA adapters?",
    "What is the capital of Australia?",
]


@pytest.fixture
def filled_store(shipped_guide, tmp_path):
    """A real SQLite store with real answers from the shipped course: uncovered questions, covered ones and votes."""
    store = InteractionStore(f"sqlite:///{tmp_path / 'state' / 'interactions.sqlite3'}")
    ids = {}
    for n, question in enumerate(UNCOVERED + ["What is a model registry?", "How does a canary release work?",
                                             "<script>window.__xss=1</script> What is data drift?"]):
        answer = answer_question(shipped_guide, question)
        ids[question] = str(uuid.uuid4())
        store.add(interaction_row(answer, ids[question], channel=("api", "widget", "chat")[n % 3], course="mlops",
                                  learner="learner-a" if n < 4 else "learner-b", lesson=None, asked_at=now() - timedelta(days=n)))
    store.vote(ids["What is a model registry?"], False, "Say how to register one.")
    store.vote(ids["How does a canary release work?"], True, None)
    yield store, ids, tmp_path / "state"
    store.close()


def test_uncovered_questions_are_refused_by_the_shipped_guide(shipped_guide):
    assert all(answer_question(shipped_guide, q).refused for q in UNCOVERED)


def test_gaps_group_questions_by_meaning_biggest_first(filled_store, shipped_guide):
    store, _, _ = filled_store
    rows = [r for r in store.questions(limit=None)[0] if r["refused"]]
    groups = gap_groups(rows, shipped_guide.embedder)
    assert [g["count"] for g in groups][:2] == [3, 2]
    assert set(groups[0]["examples"]) == set(UNCOVERED[:3]) and "Helm" in groups[0]["label"]
    assert set(groups[1]["examples"]) == set(UNCOVERED[3:5])
    assert groups[0]["nearest_lessons"] and all({"source", "title"} == set(lesson) for lesson in groups[0]["nearest_lessons"])
    assert sum(g["count"] for g in groups) == len(rows)


def test_eval_lines_are_valid_cases_marked_for_review(filled_store):
    store, ids, _ = filled_store
    rows, _ = store.questions(answer_ids=[ids["What is a model registry?"], ids[UNCOVERED[0]]], limit=None)
    lines = eval_lines(rows).splitlines()
    cases = {case.question: case for case in (parse_case(json.loads(line), n) for n, line in enumerate(lines, 1))}
    registry = cases["What is a model registry?"]
    assert registry.type == "factual" and registry.sources[0].source == "06-model-registry-and-packaging.md"
    assert cases[UNCOVERED[0]].type == "out_of_scope" and cases[UNCOVERED[0]].sources == []
    assert all("REVIEW" in json.loads(line)["notes"] for line in lines)
    assert "Say how to register one." in json.loads(lines[0] if "registry" in lines[0] else lines[1])["notes"]


def test_since_accepts_periods_and_dates():
    at = datetime(2026, 9, 10, 12, tzinfo=timezone.utc)
    assert parse_since("7d", at) == at - timedelta(days=7) and parse_since("12h", at) == at - timedelta(hours=12)
    assert parse_since("2w", at) == at - timedelta(days=14) and parse_since(None, at) is None
    assert parse_since("2026-09-01", at) == datetime(2026, 9, 1, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="7d"):
        parse_since("last week", at)


def test_insights_json_has_counts_feedback_and_gaps(filled_store, shipped_settings):
    _, _, state = filled_store
    result = CliRunner().invoke(main, ["insights", "--json", "--db", str(shipped_settings.db_dir)], env={"COURSE_GUIDE_STATE_DIR": str(state)})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["questions"] == 9 and data["refused"] == 6 and data["feedback"] == {"helpful": 1, "not_helpful": 1}
    assert data["gaps"][0]["count"] == 3 and {"label", "count", "examples"} <= set(data["gaps"][0])
    assert data["not_helpful"][0]["comment"] == "Say how to register one."
    unreached = {lesson["source"] for lesson in data["unreached_lessons"]}
    assert "10-feature-stores.txt" in unreached and "06-model-registry-and-packaging.md" not in unreached
    week = json.loads(CliRunner().invoke(main, ["insights", "--json", "--since", "4d"], env={"COURSE_GUIDE_STATE_DIR": str(state)}).stdout)
    assert week["questions"] == 4, "questions 0-3 days old"


def test_insights_writes_a_self_contained_html_report_with_learner_text_escaped(filled_store, tmp_path):
    _, _, state = filled_store
    result = CliRunner().invoke(main, ["insights", "--out", str(tmp_path / "report")], env={"COURSE_GUIDE_STATE_DIR": str(state)})
    assert result.exit_code == 0, result.output
    html = (tmp_path / "report" / "insights.html").read_text()
    assert "wrote" in result.output and "<svg" in html and "Course gaps" in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html and "<script>window.__xss" not in html
    assert "<script" not in html and "http" not in html.replace("http://www.w3.org", ""), "nothing is loaded from anywhere"
    import shutil

    from tests.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "report" / "insights.html", SCREENSHOTS / "insights-report.html")


def test_insights_forget_deletes_one_learner(filled_store):
    store, _, state = filled_store
    result = CliRunner().invoke(main, ["insights", "forget", "--learner", "learner-a"], env={"COURSE_GUIDE_STATE_DIR": str(state)})
    assert result.exit_code == 0 and "Deleted 4 questions" in result.output
    rows, total = store.questions(limit=None)
    assert total == 5 and all(r["question"] not in UNCOVERED[:4] for r in rows)


def test_insights_with_a_bad_since_or_store_says_what_to_do(tmp_path):
    result = CliRunner().invoke(main, ["insights", "--since", "yesterday"], env={"COURSE_GUIDE_STATE_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "7d" in result.output
    result = CliRunner().invoke(main, ["insights", "forget", "--learner", "x"], env={"COURSE_GUIDE_STORE_URL": "nonsense://"})
    assert result.exit_code == 1 and "COURSE_GUIDE_STORE_URL" in result.output and "Traceback" not in result.output


def test_the_cli_never_records_learner_questions(shipped_settings, tmp_path):
    state = tmp_path / "state"
    result = CliRunner().invoke(main, ["ask", "--db", str(shipped_settings.db_dir), "What is a model registry?"],
                                env={"COURSE_GUIDE_STATE_DIR": str(state)})
    assert result.exit_code == 0, result.output
    assert not state.exists(), "ask (like eval) answers without opening the interaction store"
