"""The README is the user's manual: it must open with the two commands and document every setting."""
from __future__ import annotations

from core.settings import ENV_PREFIX, Settings
from tests.conftest import REPO


def test_readme_opens_with_the_two_commands():
    head = (REPO / "README.md").read_text().split("\n## ")[0]
    assert "make run" in head and "make test" in head


def test_readme_documents_every_setting():
    readme = (REPO / "README.md").read_text()
    missing = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields if f"`{ENV_PREFIX}{name.upper()}`" not in readme]
    assert missing == []


def test_ci_runs_make_test():
    assert "make test" in (REPO / ".ci" / "run").read_text()
