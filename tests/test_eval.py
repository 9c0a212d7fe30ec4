"""The eval harness end to end on the fixture course: failing and stuck cases, determinism, thresholds, baselines, synthetic sets, and the report in Chromium."""
from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.engine.answer import answer_question
from app.engine.guide import Guide, open_guide
from core.settings import Settings
from eval.compare import compare_runs
from eval.dataset import load_dataset
from eval.harness import LATENCY_METRICS, load_results, run_eval, write_results
from eval.report import write_report
from eval.results import BarOutcome, EvalResults, ThresholdsOutcome
from ingest.pipeline import ingest_corpus
from tests.conftest import FIXTURE_COURSE, GALAXY_PAGES, SCREENSHOTS, build_pdf

FIXTURE_SET = Path(__file__).parent / "fixtures" / "eval" / "fixture.jsonl"


@pytest.fixture(scope="module")
def fixture_guide(tmp_path_factory, embedder) -> Guide:
    """The fixture course (Markdown, text, HTML and a 3-page PDF) indexed once for this module."""
    root = tmp_path_factory.mktemp("eval-course")
    shutil.copytree(FIXTURE_COURSE, root / "course")
    build_pdf(root / "course" / "04-galaxies.pdf", GALAXY_PAGES)
    settings = Settings(corpus_dir=root / "course", db_dir=root / "index")
    ingest_corpus(settings, lambda: embedder)
    return open_guide(settings, embedder)


@pytest.fixture(scope="module")
def fixture_run(fixture_guide) -> EvalResults:
    return run_eval(fixture_guide, load_dataset(FIXTURE_SET))


def _without_timing(results: EvalResults) -> dict:
    """The run minus what legitimately varies between runs: clock times and latencies."""
    data = results.model_dump(mode="json")
    data.pop("run")
    for estimates in [data["metrics"]] + [g["metrics"] for dim in data["slices"].values() for g in dim.values()]:
        for name in LATENCY_METRICS:
            estimates.pop(name)
    for case in data["cases"]:
        case.pop("latency_ms")
        if case["answer"]:
            case["answer"].pop("timings_ms")
    return data


def test_fixture_run_scores_every_case(fixture_run):
    cases = {c.id: c for c in fixture_run.cases}
    assert len(cases) == 13 and fixture_run.dataset.problems == []
    assert cases["fx-newton"].status == "passed" and cases["fx-newton"].metrics["key_fact_recall"] == 1.0
    assert cases["fx-oos-recipe"].refused and cases["fx-oos-recipe"].status == "passed"
    metrics = fixture_run.metrics
    assert metrics["hit_at_5"].value is not None and metrics["hit_at_5"].value >= 0.9 and metrics["refusal_recall"].value == 1.0
    assert metrics["hit_at_5"].n == 11 and metrics["refusal_recall"].n == 2
    for name, estimate in metrics.items():
        if estimate.value is not None:
            assert estimate.ci_low is not None and estimate.ci_high is not None, name
            assert estimate.ci_low <= estimate.value <= estimate.ci_high, name
    assert set(fixture_run.model_dump(mode="json")["slices"]) == {"type", "topic", "lesson", "origin"}
    assert fixture_run.slices.lesson["Telescopes"].n == 4
    assert fixture_run.slices.type["out_of_scope"].metrics["refusal_recall"].value == 1.0
    pdf_case = cases["fx-spiral"]  # gold given as a PDF page only
    assert pdf_case.retrieved[0].gold and pdf_case.retrieved[0].page == 2


def test_two_runs_on_the_same_index_give_identical_scores(fixture_guide, fixture_run):
    again = run_eval(fixture_guide, load_dataset(FIXTURE_SET))
    assert _without_timing(again) == _without_timing(fixture_run)


def test_a_case_that_raises_is_recorded_and_the_run_goes_on(fixture_guide):
    def flaky(guide, question, history=None):
        if "refractor" in question:
            raise RuntimeError("index shard unavailable")
        return answer_question(guide, question, history=history)

    results = run_eval(fixture_guide, load_dataset(FIXTURE_SET), answer_fn=flaky)
    cases = {c.id: c for c in results.cases}
    failed = cases["fx-refractor"]
    assert failed.status == "error"
    assert failed.error == "The answer function raised RuntimeError: index shard unavailable"
    assert [c.model_dump() for c in failed.checks] == [
        {"name": "ran", "label": "Answered without an error", "passed": False, "why": failed.error}]
    assert failed.metrics["hit_at_5"] == 0.0 and failed.metrics["key_fact_recall"] == 0.0
    assert cases["fx-newton"].status == "passed"  # the cases after it still ran
    assert results.metrics["hit_at_5"].n == 11  # the failure counts against the aggregate, not out of it


def test_a_case_that_hangs_times_out_and_the_run_goes_on(fixture_guide):
    def stuck(guide, question, history=None):
        if "Newton" in question or "reflector" in question:
            time.sleep(3)
        return answer_question(guide, question, history=history)

    dataset = load_dataset(FIXTURE_SET)
    dataset.cases = dataset.cases[:4]
    started = time.monotonic()
    results = run_eval(fixture_guide, dataset, answer_fn=stuck, timeout_s=0.5)
    assert time.monotonic() - started < 5
    statuses = {c.id: (c.status, c.error) for c in results.cases}
    assert statuses["fx-newton"] == ("error", "Timed out: no answer within 0.5 s.")
    assert statuses["fx-refractor"] == ("passed", None) and statuses["fx-doublet"][0] == "passed"


def test_baseline_comparison_lists_regressed_and_improved_questions(fixture_guide, fixture_run, tmp_path):
    def broken(guide, question, history=None):
        if "gas giants made of" in question:
            raise RuntimeError("boom")
        return answer_question(guide, question, history=history)

    worse = run_eval(fixture_guide, load_dataset(FIXTURE_SET), answer_fn=broken)
    down = compare_runs(worse, fixture_run, tmp_path / "before")
    assert [e.id for e in down.regressed] == ["fx-gas-giants"]
    assert down.regressed[0].before == "passed" and down.regressed[0].after == "error"
    assert "boom" in (down.regressed[0].why or "")
    assert down.improved == [] and down.same_dataset
    delta = down.metrics["pass_rate"].delta
    assert delta is not None and delta < 0 and not down.metrics["latency_p95_ms"].compared
    up = compare_runs(fixture_run, worse, tmp_path / "before")
    assert [e.id for e in up.improved] == ["fx-gas-giants"] and up.regressed == []


PREVIOUS_RESULTS = Path(__file__).parent / "fixtures" / "eval" / "previous-results.json"


def _previous_run(tmp_path: Path, data: dict | None = None) -> Path:
    """A run folder holding the results.json of the previous (dict-building) version, or `data` in its place."""
    run = tmp_path / "previous-run"
    run.mkdir()
    text = PREVIOUS_RESULTS.read_text(encoding="utf-8") if data is None else json.dumps(data, indent=2)
    (run / "results.json").write_text(text, encoding="utf-8")
    return run


def test_results_of_the_previous_version_load_and_serve_as_a_baseline(fixture_run, tmp_path):
    # previous-results.json was written by `course-guide eval --thresholds … --baseline …` before results were typed
    # (trimmed to three cases, and one regressed and one improved question listed the way that version listed them).
    old = load_results(_previous_run(tmp_path))
    assert old.to_json() == PREVIOUS_RESULTS.read_text(encoding="utf-8")  # same keys, nesting and order when written back
    cases = {c.id: c for c in old.cases}
    assert cases["fx-followup-elliptical"].history and cases["fx-followup-elliptical"].refused
    assert cases["fx-newton"].answer is not None and cases["fx-newton"].answer.citations[0].n == 1
    assert old.thresholds is not None and [t.metric for t in old.thresholds.results] == ["hit_at_5", "refusal_recall"]
    assert old.baseline is not None and old.baseline.regressed[0].why and old.baseline.improved[0].why is None

    compared = compare_runs(fixture_run, old, tmp_path / "previous-run")
    assert compared.same_dataset and compared.dropped_cases == []
    assert len(compared.new_cases) == 10 and "fx-newton" not in compared.new_cases
    assert compared.metrics["hit_at_5"].baseline == old.metrics["hit_at_5"].value
    assert compared.metrics["hit_at_5"].delta == round(fixture_run.metrics["hit_at_5"].value - old.metrics["hit_at_5"].value, 4)


def _reshaped(change) -> dict:
    data = json.loads(PREVIOUS_RESULTS.read_text(encoding="utf-8"))
    change(data)
    return data


@pytest.mark.parametrize("change, field", [
    pytest.param(lambda d: d["cases"][0].pop("status"), "cases[0].status", id="missing-key"),
    pytest.param(lambda d: d["metrics"]["mrr"].update(value="high"), "metrics.mrr.value", id="wrong-type"),
    pytest.param(lambda d: d["cases"][1].update(colour="red"), "cases[1].colour", id="unknown-key"),
    pytest.param(lambda d: d.update(baseline=["eval/runs/1"]), "baseline", id="wrong-nesting"),
])
def test_a_results_file_of_the_wrong_shape_is_a_one_line_error(change, field, tmp_path):
    run = _previous_run(tmp_path, _reshaped(change))
    with pytest.raises(ValueError) as caught:
        load_results(run)
    message = str(caught.value)
    assert "\n" not in message and field in message
    assert message.startswith(f"{run / 'results.json'} is not a results file of this version of course-guide eval (")
    assert message.endswith("; re-run that eval or pick another run folder.")


def test_eval_command_rejects_a_misshapen_baseline_before_the_run(tmp_path):
    run = _previous_run(tmp_path, _reshaped(lambda d: d["cases"][0].pop("status")))
    result = _eval(["--dataset", str(FIXTURE_SET), "--baseline", str(run), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        f"Error: {run / 'results.json'} is not a results file of this version of course-guide eval "
        "(missing field(s) cases[0].status); re-run that eval or pick another run folder."]
    assert not (tmp_path / "run").exists()


def _eval(args: list[str]):
    return CliRunner().invoke(main, ["eval", *args])


def test_eval_command_writes_the_run_folder_and_gates_on_thresholds(fixture_guide, tmp_path):
    db = str(fixture_guide.settings.db_dir)
    bars = tmp_path / "pass.yaml"
    bars.write_text("hit_at_5: 0.9\nrefusal_recall: 0.9\n", encoding="utf-8")
    run = tmp_path / "run-1"
    ok = _eval(["--dataset", str(FIXTURE_SET), "--db", db, "--out", str(run), "--thresholds", str(bars)])
    assert ok.exit_code == 0, ok.output
    assert {p.name for p in run.iterdir()} == {"results.json", "results.csv", "report.html"}
    assert "questions passed every check" in ok.output and "hit_at_5" in ok.output
    results = load_results(run)
    assert results.thresholds is not None and [t.passed for t in results.thresholds.results] == [True, True]
    with (run / "results.csv").open(newline="") as table:
        rows = list(csv.DictReader(table))
    assert [r["id"] for r in rows] == [c.id for c in results.cases]
    assert rows[0]["status"] == "passed" and float(rows[0]["hit_at_5"]) == 1.0

    strict = tmp_path / "fail.yaml"
    strict.write_text("hit_at_5: 0.9\ntoken_f1: 0.99\n", encoding="utf-8")
    failing = _eval(["--dataset", str(FIXTURE_SET), "--db", db, "--out", str(tmp_path / "run-2"),
                     "--thresholds", str(strict), "--baseline", str(run)])
    assert failing.exit_code == 1
    gate_lines = [line for line in failing.stderr.splitlines() if line.startswith("eval: ")]
    assert len(gate_lines) == 1 and gate_lines[0].startswith("eval: token_f1 = 0.") and gate_lines[0].endswith("is below its bar 0.99")
    assert "vs baseline: 0 regressed, 0 improved" in failing.stdout


@pytest.mark.parametrize("args, message", [
    pytest.param([], "Missing option '--dataset'", id="no-dataset"),
    pytest.param(["--dataset", "nowhere.jsonl"], "No dataset file at nowhere.jsonl", id="missing-dataset"),
    pytest.param(["--dataset", str(FIXTURE_SET), "--baseline", "no-such-run"], "No results.json in no-such-run", id="missing-baseline"),
    pytest.param(["--dataset", str(FIXTURE_SET), "--db", "no-such-index"], "No course index in no-such-index", id="missing-index"),
    pytest.param(["--dataset", str(FIXTURE_SET), "--corpus", "no-such-course"], "No course folder at no-such-course", id="missing-corpus"),
])
def test_eval_command_input_errors_are_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _eval(args)
    assert result.exit_code in (1, 2) and message in result.output
    assert "Traceback" not in result.output


def test_eval_command_indexes_a_course_folder_first_into_a_temporary_index(embedder, tmp_path, monkeypatch):
    """--corpus without --db: the fixture course is ingested into a temporary index, scored, and the index removed."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    build_pdf(course / "04-galaxies.pdf", GALAXY_PAGES)
    result = _eval(["--dataset", str(FIXTURE_SET), "--corpus", str(course), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    assert "ingest: 4 files; chunks:" in result.stderr and "added" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["metrics"]["hit_at_5"]["value"] == 1.0
    assert list(scratch.iterdir()) == [], "the temporary index is removed after the run"


def test_eval_command_keeps_the_index_it_builds_in_db_and_reuses_it(embedder, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course)
    build_pdf(course / "04-galaxies.pdf", GALAXY_PAGES)
    db = tmp_path / "index"
    first = _eval(["--dataset", str(FIXTURE_SET), "--corpus", str(course), "--db", str(db), "--out", str(tmp_path / "run-1")])
    assert first.exit_code == 0, first.output
    again = _eval(["--dataset", str(FIXTURE_SET), "--corpus", str(course), "--db", str(db), "--out", str(tmp_path / "run-2")])
    assert again.exit_code == 0, again.output
    assert "0 added, 0 updated, 0 removed" in again.stderr
    assert load_results(tmp_path / "run-1").metrics["hit_at_5"].value == load_results(tmp_path / "run-2").metrics["hit_at_5"].value


def test_unknown_threshold_metric_fails_before_the_run(fixture_guide, tmp_path):
    bars = tmp_path / "bars.yaml"
    bars.write_text("accuracy: 0.9\n", encoding="utf-8")
    result = _eval(["--dataset", str(FIXTURE_SET), "--db", str(fixture_guide.settings.db_dir),
                    "--out", str(tmp_path / "run"), "--thresholds", str(bars)])
    assert result.exit_code == 1 and "unknown metric(s) accuracy; known metrics:" in result.output
    assert not (tmp_path / "run").exists()


def test_bad_dataset_lines_are_reported_and_the_rest_evaluated(fixture_guide, tmp_path):
    dataset = tmp_path / "set.jsonl"
    lines = FIXTURE_SET.read_text().splitlines()[:3]
    dataset.write_text("\n".join([lines[0], '{"id": "half"', lines[1], lines[2].replace('"lookup"', '"trivia"')]) + "\n")
    result = _eval(["--dataset", str(dataset), "--db", str(fixture_guide.settings.db_dir), "--out", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert list(summary) == ["run", "dataset", "headline", "metrics", "run_dir", "report", "thresholds", "baseline"]
    assert summary["metrics"]["pass_rate"]["n"] == 2 and summary["thresholds"] is None and summary["baseline"] is None
    assert f"{dataset}: skipped line 2: not valid JSON" in result.stderr
    assert f"{dataset}: skipped line 4 (id fx-newton): 'type' is \"trivia\"" in result.stderr
    results = load_results(tmp_path / "run")
    assert [c.id for c in results.cases] == ["fx-refractor", "fx-reflector-mirror"]
    assert [p.line for p in results.dataset.problems] == [2, 4]


def test_generated_synthetic_set_is_valid_labelled_and_kept_apart(fixture_guide, tmp_path):
    out = tmp_path / "synthetic.jsonl"
    made = _eval(["generate", "--db", str(fixture_guide.settings.db_dir), "--out", str(out)])
    assert made.exit_code == 0, made.output
    synthetic = load_dataset(out)
    assert synthetic.problems == [] and all(c.synthetic for c in synthetic.cases)
    kinds = {json.loads(line)["generator"] for line in out.read_text().splitlines()}
    assert kinds == {"heading", "definition", "cloze"}
    questions = [c.question for c in synthetic.cases]
    assert "What is a refractor?" in questions and "What does the course say about reflectors?" in questions
    assert any("_____" in q for q in questions)

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(FIXTURE_SET.read_text() + out.read_text())
    results = run_eval(fixture_guide, load_dataset(mixed))
    assert results.headline == "hand-written"
    assert results.metrics["pass_rate"].n == 13  # the headline figures are the hand-written cases only
    assert results.synthetic_metrics is not None and results.synthetic_metrics["pass_rate"].n == len(synthetic.cases)
    assert set(results.slices.origin) == {"hand-written", "synthetic"}
    write_results(tmp_path / "run", results)
    html = write_report(tmp_path / "run", results).read_text()
    assert "Synthetic questions, shown apart" in html


def test_coverage_lists_sections_without_questions(fixture_run):
    coverage = fixture_run.coverage
    lessons = {lesson.title: lesson for lesson in coverage.lessons}
    assert set(lessons) == {"Telescopes", "Stars", "The Planets", "Galaxies handout"}
    assert coverage.uncovered_lessons == []
    uncovered = {s.label for lesson in lessons.values() for s in lesson.sections if s.questions == 0}
    assert "(introduction)" in uncovered and "Refractors" not in uncovered
    assert coverage.section_coverage is not None and 0 < coverage.section_coverage < 1


@pytest.mark.browser
def test_report_opens_from_disk_with_plots_and_working_filters(fixture_guide, fixture_run, browser, tmp_path):
    def broken(guide, question, history=None):
        if "gas giants made of" in question:
            raise RuntimeError("boom")
        return answer_question(guide, question, history=history)

    results = run_eval(fixture_guide, load_dataset(FIXTURE_SET), answer_fn=broken)
    results.baseline = compare_runs(results, fixture_run, tmp_path / "baseline")
    results.thresholds = ThresholdsOutcome(file="bars.yaml", results=[
        BarOutcome(metric="hit_at_5", bar="≥ 0.9", minimum=0.9, maximum=None, value=results.metrics["hit_at_5"].value,
                   passed=True, message=None)])
    report = write_report(tmp_path, results)
    html = report.read_text()
    assert "<script src" not in html and "<link" not in html and "@import" not in html and "<img src=\"http" not in html

    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    assert all(url.startswith("file://") or url.startswith("data:") for url in requests), requests

    for plot in ("#plot-lessons", "#plot-types", "#plot-distribution"):
        svg = page.locator(f"{plot} svg")
        box = svg.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, plot
        assert svg.locator("path").count() > 20, plot  # bars and axes were drawn, not an empty frame
    page.locator("#plots").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "eval-report.png", full_page=True)
    assert "Got worse since the baseline" in page.locator("#list-regressed").inner_text()
    assert page.locator("#list-regressed li").count() == 1

    cases = page.locator("details.case")
    visible = page.locator("details.case:not([hidden])")
    assert visible.count() == cases.count() == 13
    page.check("#filter-failures")
    statuses = visible.evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses and all(s != "passed" for s in statuses)
    assert page.locator("#shown-count").inner_text() == f"Showing {len(statuses)} of 13 questions"
    page.uncheck("#filter-failures")
    page.select_option("#filter-lesson", "Stars")
    assert visible.count() == 3
    page.select_option("#filter-type", "lookup")
    assert visible.evaluate_all("els => els.map(e => e.id)") == ["case-fx-sun-temperature"]
    page.select_option("#filter-lesson", "")
    page.select_option("#filter-type", "")
    page.fill("#filter-search", "newton")
    assert visible.evaluate_all("els => els.map(e => e.id)") == ["case-fx-newton"]
    page.fill("#filter-search", "no such words")
    assert visible.count() == 0 and page.locator("#no-match").is_visible()
    page.fill("#filter-search", "")

    # A link in the "needs attention" list opens that question's drill-down.
    page.locator("#list-regressed a").click()
    failed = page.locator("#case-fx-gas-giants")
    assert failed.evaluate("e => e.open")
    assert "boom" in failed.locator(".why").inner_text()
    # An answered question shows its sentences by support, the quoted span in each citation, and the gold passages.
    answered = page.locator("#case-fx-planets-overview")
    answered.locator(":scope > summary").click()
    sentences = answered.locator(".answer .sent")
    assert sentences.count() >= 2 and answered.locator(".answer .sent.supported").count() == sentences.count()
    assert answered.locator(".citation mark").count() >= 2
    assert answered.locator("tr.is-gold").count() >= 2
    answered.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOTS / "eval-report-drilldown.png")
    page.close()


def test_llm_judge_rates_each_answer_three_times_and_reports_the_spread(fixture_guide, tmp_path):
    from eval.judge import LLMJudge
    from tests.fake_llm import Scripted, fake_llm_server

    assert fixture_guide.llm is None  # no endpoint configured: no judge, and the eval still runs
    dataset = load_dataset(FIXTURE_SET)
    dataset.cases = [c for c in dataset.cases if c.id in ("fx-newton", "fx-oos-recipe")]
    replies = ['{"correctness": 1, "groundedness": 1}', 'Sure. {"correctness": 0.5, "groundedness": 1}', Scripted(status=500),
               "I cannot grade this.", '{"correctness": 0, "groundedness": 0.5}']
    with fake_llm_server(replies) as server:
        judged_settings = fixture_guide.settings.model_copy(update={"llm_base_url": server.base_url})
        judged = open_guide(judged_settings, fixture_guide.embedder)
        assert judged.llm is not None
        results = run_eval(fixture_guide, dataset, judge=LLMJudge(judged.llm))
    assert len(server.requests) == 6
    assert "Assistant's answer:\nIsaac Newton built" in server.requests[0]["messages"][1]["content"]
    newton, recipe = results.cases
    assert newton.judge is not None and recipe.judge is not None and results.judge is not None
    assert (newton.judge.correctness, newton.judge.groundedness) == ([1.0, 0.5], [1.0, 1.0])
    assert newton.judge.errors[0].endswith("failed: HTTP 500. Check that it is running, or unset COURSE_GUIDE_LLM_BASE_URL.")
    assert recipe.judge.correctness == [0.0, 0.0] and "no JSON object" in recipe.judge.errors[0]
    assert results.metrics["judge_correctness"].value == 0.375 and results.metrics["judge_correctness"].n == 2
    assert results.judge.spread == {"judge_correctness": 0.25, "judge_groundedness": 0.0}
    assert results.judge.failures == 2 and results.judge.runs == 3
    html = write_report(tmp_path, results).read_text()
    assert "LLM judge: correct" in html and "rated each answer 3 times" in html


def test_the_results_models_hold_every_field_the_answer_contract_has():
    """results.json stores answers as Answer.to_dict() gives them: a new field there must be added to the model too."""
    from dataclasses import fields

    from core.types import Answer, Citation, RetrievedChunk
    from eval.results import AnswerRecord, CitationRecord, PassageRecord

    assert {f.name for f in fields(Citation)} == set(CitationRecord.model_fields)
    chunk_fields = set(RetrievedChunk(_chunk_for_contract(), 0.5).to_dict())
    assert chunk_fields <= set(PassageRecord.model_fields), chunk_fields - set(PassageRecord.model_fields)
    answer_fields = set(Answer(question="q", answer="a", refused=False).to_dict())
    assert answer_fields == set(AnswerRecord.model_fields), answer_fields ^ set(AnswerRecord.model_fields)


def _chunk_for_contract():
    from core.types import Chunk

    return Chunk(id="c1", text="t", source="a.md", title="A", section="A", anchor=None, page=None, ordinal=0, file_sha="0")
