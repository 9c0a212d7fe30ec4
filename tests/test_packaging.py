"""The package as a user installs it: a built wheel, installed without the source tree, still finds its prompts,
report template and widget (package data), and the `course-guide` entry point is declared."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHECK = """
from pathlib import Path
import app.web.api, eval.report, prompts
from app.engine.generative import prompt_template
assert Path(prompts.__file__).resolve().is_relative_to(Path({target!r}).resolve()), prompts.__file__
assert prompt_template("system_rules").format().strip(), "system_rules.md is missing"
assert app.web.api.WIDGET_FILE.is_file(), app.web.api.WIDGET_FILE
assert (Path(eval.report.__file__).parent / "templates" / "report.html.j2").is_file()
print("ok")
"""


def test_a_wheel_installed_without_the_source_tree_finds_prompts_templates_and_the_widget(tmp_path):
    # Built from a copy, so that setuptools' build/ folder never lands in the working tree.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".git", "index", "build", "*.egg-info", "screenshots",
                                                                 "__pycache__", "runs", "state", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("course_guide-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"prompts/system_rules.md", "prompts/answer_with_citations.md", "app/web/static/widget.js",
            "eval/templates/report.html.j2"} <= names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "course-guide = app.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    # Run from outside the repo with only the installed copy on the path ahead of the dependencies.
    run = subprocess.run([sys.executable, "-c", CHECK.format(target=str(target))], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
