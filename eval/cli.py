"""`course-guide eval`: score the guide on a dataset and write results.json, results.csv and report.html; `eval generate` writes a synthetic dataset."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.cli.common import db_option, guide_for, json_option, make_settings
from core.store import IndexUnusableError

if TYPE_CHECKING:
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
def eval_group(ctx: click.Context, dataset_file: Path | None, db_dir: Path | None, out_dir: Path | None,
               baseline_dir: Path | None, thresholds_file: Path | None, timeout_s: float, judge: bool, as_json: bool) -> None:
    """Score the guide on a dataset of questions: retrieval, key facts, faithfulness, citations and refusals.

    Writes results.json, results.csv and report.html to the run folder and prints a summary.
    Exits 1 when a bar of --thresholds is not met."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset_file is None:
        raise click.UsageError("Missing option '--dataset'. Pass the JSONL file of eval questions, e.g. --dataset eval/datasets/dev.jsonl.")
    from eval.compare import (
        ThresholdsError,
        check_thresholds,
        compare_runs,
        load_thresholds,
    )
    from eval.dataset import DatasetError, load_dataset
    from eval.harness import default_run_dir, load_results, run_eval, write_results
    from eval.judge import LLMJudge
    from eval.report import write_report
    from eval.results import ThresholdsOutcome

    settings = make_settings(db_dir=db_dir)
    # Everything that can be wrong with the inputs is reported before the slow model load and the run.
    try:
        dataset = load_dataset(dataset_file)
        bars = load_thresholds(thresholds_file) if thresholds_file else None
        baseline = load_results(baseline_dir) if baseline_dir else None
    except (DatasetError, ThresholdsError, ValueError) as err:
        raise click.ClickException(str(err)) from None
    for problem in dataset.problems:
        click.echo(f"{dataset_file}: skipped {problem}", err=True)
    guide = guide_for(settings)
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
