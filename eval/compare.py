"""Judging a run: thresholds that gate CI, and the comparison with a baseline run (metric deltas, regressed and improved questions)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, RootModel, StrictFloat, ValidationError, model_validator

from core.files import explain, located
from eval.harness import ALL_METRICS, LATENCY_METRICS
from eval.results import BarOutcome, BaselineComparison, CaseChange, CaseRecord, EvalResults, MetricDelta

# A question's score must move this much to count as regressed or improved when its pass/fail did not change.
SCORE_CHANGE = 0.1
# Latency is machine noise, not quality: it is compared only when a thresholds file asks for it.
NOT_COMPARED = LATENCY_METRICS


class ThresholdsError(ValueError):
    """A thresholds file that cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Bar:
    """A metric's bar: its value must be at least `minimum` (or, for latency, at most `maximum`)."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value: float | None) -> str | None:
        """None if the value clears the bar, else one line saying how it fell short."""
        if value is None:
            return f"{self.metric} has no value in this run (no case it applies to), so its bar cannot be met"
        if self.minimum is not None and value < self.minimum:
            return f"{self.metric} = {value:.4g} is below its bar {self.minimum:g}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.metric} = {value:.4g} is above its limit {self.maximum:g}"
        return None

    def describe(self) -> str:
        return f"≥ {self.minimum:g}" if self.minimum is not None else f"≤ {self.maximum:g}"


class BarLimits(BaseModel):
    """`metric: {min: N}` or `metric: {max: N}` (a latency limit) in a thresholds file."""

    model_config = ConfigDict(extra="forbid")
    min: StrictFloat | None = None
    max: StrictFloat | None = None

    @model_validator(mode="after")
    def _one_given(self) -> BarLimits:
        if self.min is None and self.max is None:
            raise ValueError("must be a number (minimum) or {min: N} / {max: N}")
        return self


class ThresholdsFile(RootModel[dict[str, StrictFloat | BarLimits]]):
    """A thresholds file: a YAML mapping of metric name to its minimum, or to {min: N} / {max: N}."""

    @model_validator(mode="before")
    @classmethod
    def _known_metrics(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data:
            raise ValueError("must be a YAML mapping of metric name to minimum, e.g. `hit_at_5: 0.9`")
        unknown = [str(name) for name in data if name not in ALL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known metrics: {', '.join(ALL_METRICS)}")
        for name, value in data.items():
            if isinstance(value, dict):
                if not value or set(value) - {"min", "max"} or not all(_is_number(v) for v in value.values()):
                    raise ValueError(f"the bar of {name} must be a number (minimum) or {{min: N}} / {{max: N}}, not {value!r}")
            elif not _is_number(value):
                raise ValueError(f"the bar of {name} must be a number, not {value!r}")
        return {name: ({k: float(v) for k, v in value.items()} if isinstance(value, dict) else float(value)) for name, value in data.items()}

    def bars(self) -> list[Bar]:
        return [Bar(name, bar.min, bar.max) if isinstance(bar, BarLimits) else Bar(name, minimum=bar) for name, bar in self.root.items()]


def _is_number(value: Any) -> bool:
    # bool is an int in Python; `hit_at_5: yes` is a mistake, not a bar of 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_thresholds(path: Path) -> list[Bar]:
    """Bars from a YAML mapping `metric: minimum` (or `metric: {max: N}` for latency)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ThresholdsError(f"No thresholds file at {path}.") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ThresholdsError(f"Cannot read the thresholds file {path}: {err}".splitlines()[0]) from None
    try:
        return ThresholdsFile.model_validate(data).bars()
    except ValidationError as err:
        raise ThresholdsError(located(path, explain(err))) from None


def check_thresholds(results: EvalResults, bars: list[Bar]) -> list[BarOutcome]:
    """Each bar with the run's value and whether it passed; the report and the exit code read this."""
    checked = []
    for bar in bars:
        value = results.metrics[bar.metric].value
        failure = bar.check(value)
        checked.append(BarOutcome(metric=bar.metric, bar=bar.describe(), minimum=bar.minimum, maximum=bar.maximum,
                                  value=value, passed=failure is None, message=failure))
    return checked


def _case_outcome(case: CaseRecord) -> tuple[bool, float]:
    return case.status == "passed", case.metrics.get("question_score") or 0.0


def _why(case: CaseRecord) -> str:
    failed = case.failed_checks
    return failed[0].why if failed else ""


def compare_runs(current: EvalResults, baseline: EvalResults, baseline_dir: Path) -> BaselineComparison:
    """Metric deltas, and questions that regressed or improved, matched by case id."""
    metrics = {}
    for name, estimate in current.metrics.items():
        earlier = baseline.metrics.get(name)
        before = earlier.value if earlier is not None else None
        now = estimate.value
        metrics[name] = MetricDelta(
            baseline=before,
            current=now,
            delta=None if before is None or now is None else round(now - before, 4),
            compared=name not in NOT_COMPARED,
        )
    before_cases = {c.id: c for c in baseline.cases}
    regressed, improved = [], []
    for case in current.cases:
        old = before_cases.get(case.id)
        if old is None:
            continue
        (was_ok, was_score), (is_ok, is_score) = _case_outcome(old), _case_outcome(case)
        change = round(is_score - was_score, 4)
        entry = CaseChange(id=case.id, question=case.question, before=old.status, after=case.status,
                           score_before=round(was_score, 4), score_after=round(is_score, 4), change=change)
        if (was_ok and not is_ok) or (was_ok == is_ok and change <= -SCORE_CHANGE):
            regressed.append(entry.model_copy(update={"why": _why(case)}))
        elif (is_ok and not was_ok) or (was_ok == is_ok and change >= SCORE_CHANGE):
            improved.append(entry)
    current_ids = {c.id for c in current.cases}
    return BaselineComparison(
        run_dir=str(baseline_dir),
        started_at=baseline.run.started_at,
        dataset_sha256=baseline.dataset.sha256,
        same_dataset=baseline.dataset.sha256 == current.dataset.sha256,
        metrics=metrics,
        regressed=sorted(regressed, key=lambda e: e.change),
        improved=sorted(improved, key=lambda e: -e.change),
        new_cases=sorted(current_ids - set(before_cases)),
        dropped_cases=sorted(set(before_cases) - current_ids),
    )
