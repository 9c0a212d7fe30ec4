"""`course-guide eval`: score the guide on a dataset and write results.json, results.csv and report.html; `eval generate` writes a synthetic dataset."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli.common import course_option, db_option, guide_for, json_option, load_model, make_settings
from core.store import IndexUnusableError

if TYPE_CHECKING:
    from app.engine.guide import Guide
    from core.settings import Settings
    from eval.compare import Bar
    from eval.dataset import Dataset
    from eval.results import EvalResults


def _summary_table(results: EvalResults) -> str:
    from eval.report import format_delta, format_value

    baseline = results.baseline.metrics if results.baseline else {}
    lines = [f"{'metric':<24} {'value':>9}  {'95% CI':<19} {'n':>4}" + ("  vs baseline" if baseline else "")]
    for name, estimate in results.metrics.items():
        if estimate.n == 0 and name.startswith("judge_"):
            continue
        ci = "" if estimate.ci_low is None else f"{format_value(name, estimate.ci_low)} – {format_value(name, estimate.ci_high)}"
        line = f"{name:<24} {format_value(name, estimate.value):>9}  {ci:<19} {estimate.n:>4}"
        if baseline:
            delta = baseline[name].delta if name in baseline else None
            line += f"  {format_delta(name, delta)}"
        lines.append(line)
    return "\n".join(lines)


@click.group("eval", invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dataset", "dataset_file", type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL eval dataset (see README, 'Evaluating answers').")
@db_option
@course_option
@click.option("--corpus", "corpus_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Course folder to index first, into --db (kept, so a rerun embeds only what changed) "
                   "or, without --db, into a temporary index removed after the run.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to write [default: eval/runs/<UTC time>].")
@click.option("--baseline", "baseline_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of an earlier run to compare with.")
@click.option("--thresholds", "thresholds_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML of metric bars, e.g. `hit_at_5: 0.9`; the command exits 1 if one is not met.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds one question may take before it is recorded as timed out.")
@click.option("--judge/--no-judge", default=True, show_default=True,
              help="Add LLM-judge scores when an LLM endpoint is configured (COURSE_GUIDE_LLM_BASE_URL).")
@json_option
@click.pass_context
def eval_group(ctx: click.Context, dataset_file: Path | None, db_dir: Path | None, course: str | None, corpus_dir: Path | None, out_dir: Path | None,
               baseline_dir: Path | None, thresholds_file: Path | None, timeout_s: float, judge: bool, as_json: bool) -> None:
    """Score the guide on a dataset of questions: retrieval, key facts, faithfulness, citations and refusals.

    Writes results.json, results.csv and report.html to the run folder and prints a summary.
    With --corpus, the course folder is indexed first (a held-out course, e.g.
    --dataset eval/datasets/heldout_webdev.jsonl --corpus eval/datasets/heldout_webdev/course).
    Exits 1 when a bar of --thresholds is not met."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset_file is None:
        raise click.UsageError("Missing option '--dataset'. Pass the JSONL file of eval questions, e.g. --dataset eval/datasets/dev.jsonl.")
    from eval.compare import ThresholdsError, load_thresholds
    from eval.dataset import DatasetError, load_dataset
    from eval.harness import load_results

    if course is not None and corpus_dir is not None:
        raise click.UsageError("Pass --course (a registered course's own index) or --corpus (a folder indexed for this run), not both.")
    if corpus_dir is not None and not corpus_dir.is_dir():
        raise click.ClickException(f"No course folder at {corpus_dir}. Pass --corpus with the folder of the dataset's lessons.")
    # Everything that can be wrong with the inputs is reported before the slow model load and the run.
    try:
        dataset = load_dataset(dataset_file)
        bars = load_thresholds(thresholds_file) if thresholds_file else None
        baseline = load_results(baseline_dir) if baseline_dir else None
    except (DatasetError, ThresholdsError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    for problem in dataset.problems:
        click.echo(f"{dataset_file}: skipped {problem}", err=True)
    temporary_index = Path(tempfile.mkdtemp(prefix="course-guide-eval-index-")) if corpus_dir is not None and db_dir is None else None
    try:
        settings = make_settings(db_dir=temporary_index or db_dir, corpus_dir=corpus_dir, course=course)
        guide = _indexed_guide(settings) if corpus_dir is not None else guide_for(settings)
        _run_and_report(ctx, guide, dataset, dataset_file, bars, thresholds_file, baseline, baseline_dir,
                        out_dir, timeout_s, judge, as_json)
    finally:
        if temporary_index is not None:
            shutil.rmtree(temporary_index, ignore_errors=True)


def _indexed_guide(settings: Settings) -> Guide:
    """Ingest settings.corpus_dir into settings.db_dir, then open the guide on it, loading the model once for both."""
    from ingest.pipeline import IngestError, ingest_corpus

    embedder = load_model(settings)
    try:
        report = ingest_corpus(settings, lambda: embedder, log=lambda message: click.echo(message, err=True))
    except IngestError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"ingest: {report.summary_line()}", err=True)
    return guide_for(settings, embedder=embedder)


def _run_and_report(ctx: click.Context, guide: Guide, dataset: Dataset, dataset_file: Path, bars: list[Bar] | None,
                    thresholds_file: Path | None, baseline: EvalResults | None, baseline_dir: Path | None,
                    out_dir: Path | None, timeout_s: float, judge: bool, as_json: bool) -> None:
    from eval.compare import check_thresholds, compare_runs
    from eval.harness import default_run_dir, run_eval, write_results
    from eval.judge import LLMJudge
    from eval.report import write_report
    from eval.results import ThresholdsOutcome

    judge_runner = LLMJudge(guide.llm) if judge and guide.llm is not None else None
    progress = None
    if sys.stderr.isatty() and not as_json:
        from tqdm import tqdm

        bar = tqdm(total=len(dataset.cases), desc="eval", unit="question", file=sys.stderr, leave=False)
        progress = bar.update
    try:
        results = run_eval(guide, dataset, timeout_s=timeout_s, progress=progress, judge=judge_runner)
    except IndexUnusableError as err:
        raise click.ClickException(str(err)) from None
    if bars is not None:
        results.thresholds = ThresholdsOutcome(file=str(thresholds_file), results=check_thresholds(results, bars))
    if baseline is not None:
        results.baseline = compare_runs(results, baseline, Path(str(baseline_dir)))
    run_dir = out_dir or default_run_dir()
    write_results(run_dir, results)
    report = write_report(run_dir, results)
    failed_bars = results.thresholds.failed if results.thresholds else []
    if as_json:
        summary = results.model_dump(mode="json", include={"run", "dataset", "headline", "metrics"})
        summary.update(run_dir=str(run_dir), report=str(report),
                       thresholds=results.thresholds.model_dump(mode="json") if results.thresholds else None,
                       baseline=results.baseline.model_dump(mode="json", exclude={"metrics"}) if results.baseline else None)
        click.echo(json.dumps(summary, indent=2))
    else:
        passed = sum(c.status == "passed" for c in results.cases)
        click.echo(f"{passed} of {len(results.cases)} questions passed every check ({results.headline} figures below).")
        click.echo(_summary_table(results))
        if results.baseline is not None:
            click.echo(f"vs baseline: {len(results.baseline.regressed)} regressed, {len(results.baseline.improved)} improved")
        click.echo(f"Report: {report}")
    for bar_result in failed_bars:
        click.echo(f"eval: {bar_result.message}", err=True)
    if failed_bars:
        ctx.exit(1)


@eval_group.command("generate")
@db_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="JSONL file to write the synthetic dataset to.")
@click.option("--per-lesson", type=click.IntRange(min=1), default=6, show_default=True,
              help="Most questions of each kind (heading, definition, cloze) per lesson.")
def generate(db_dir: Path | None, out_file: Path, per_lesson: int) -> None:
    """Write a synthetic dataset from the indexed course, without an LLM: heading, definition and cloze questions.

    Every case is labelled "synthetic": true; the report keeps them apart from hand-written ones."""
    from eval.synthetic import generate_cases

    guide = guide_for(make_settings(db_dir=db_dir))
    try:
        cases = generate_cases(guide.index.chunks(), per_lesson=per_lesson)
    except IndexUnusableError as err:
        raise click.ClickException(str(err)) from None
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    kinds: dict[str, int] = {}
    for case in cases:
        kinds[case["generator"]] = kinds.get(case["generator"], 0) + 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    click.echo(f"Wrote {len(cases)} synthetic questions ({detail}) to {out_file}. Review them before relying on them.")
