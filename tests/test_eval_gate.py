"""The CI gate: the real `course-guide eval` on the hand-made dev set, against the shipped course, must meet eval/thresholds.yaml."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from core.citations import marked_stretches
from core.furniture import furniture_kind
from eval.dataset import load_dataset
from eval.harness import load_results
from tests.conftest import REPO

DEV_SET = REPO / "eval" / "datasets" / "dev.jsonl"
THRESHOLDS = REPO / "eval" / "thresholds.yaml"


def test_dev_set_has_no_bad_lines():
    dataset = load_dataset(DEV_SET)
    assert [str(p) for p in dataset.problems] == []
    assert len(dataset.cases) >= 100


def test_eval_on_the_dev_set_meets_the_thresholds(shipped_settings, tmp_path: Path):
    exe = Path(sys.executable).with_name("course-guide")
    out = tmp_path / "run"
    env = {**os.environ, "COURSE_GUIDE_DB_DIR": str(shipped_settings.db_dir)}
    run = subprocess.run([exe, "eval", "--dataset", str(DEV_SET), "--thresholds", str(THRESHOLDS), "--out", str(out)],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    results = load_results(out)
    assert results.thresholds is not None and all(t.passed for t in results.thresholds.results)
    assert len(results.thresholds.results) == len(yaml.safe_load(THRESHOLDS.read_text()))
    assert (out / "report.html").stat().st_size > 0
    # No answer to any dev-set question quotes furniture (images, call-outs, quiz links, admonition markers ...).
    quoted = [(case.id, claim.text) for case in results.cases if case.answer is not None and not case.answer.refused
              for claim in marked_stretches(_outside_code(case.answer.answer))]
    assert quoted
    assert [(case, text) for case, text in quoted if furniture_kind(text) is not None or text.startswith(">")] == []


def _outside_code(answer: str) -> str:
    """An answer's lines outside the code blocks it quotes."""
    lines, in_code = [], False
    for line in answer.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            lines.append(line)
    return "\n".join(lines)
