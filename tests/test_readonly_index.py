"""Serving from a read-only index (an image or volume built once): ask works and nothing in the index is written."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import main
from tests.conftest import REPO

# Tests run as root, where chmod does not stop writes. setpriv drops the capability that lets root write
# through file modes (CAP_DAC_OVERRIDE), so in that child process a read-only folder really is read-only.
SETPRIV = shutil.which("setpriv")
NO_OVERRIDE = ["--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file's sha256 and mtime, to show that nothing was written."""
    return {
        p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def read_only_index(settings, run_ingest, tmp_path) -> Path:
    run_ingest(settings)
    copy = tmp_path / "read-only-index"
    shutil.copytree(settings.db_dir, copy)
    subprocess.run(["chmod", "-R", "a-w", str(copy)], check=True)
    yield copy
    subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)  # so pytest can clean up


def test_ask_on_a_chmod_a_w_copy_of_an_index_answers_and_writes_nothing(read_only_index):
    before = snapshot(read_only_index)
    result = CliRunner().invoke(main, ["ask", "--db", str(read_only_index), "What is a refractor?"])
    assert result.exit_code == 0, result.output
    assert "damaged" not in result.output and "[1]" in result.output
    assert snapshot(read_only_index) == before, "root could write, but the read-only index must stay untouched"


@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux) to drop root's write override")
def test_ask_on_a_read_only_index_where_writes_really_fail(read_only_index):
    probe = subprocess.run([SETPRIV, *NO_OVERRIDE, "touch", str(read_only_index / "probe")], capture_output=True)
    assert probe.returncode != 0, "the child must really be unable to write the folder, or this test proves nothing"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [SETPRIV, *NO_OVERRIDE, sys.executable, "-c", "from app.cli.main import main; main()",
         "ask", "--db", str(read_only_index), "What is a refractor?"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "damaged" not in result.stdout + result.stderr and "[1]" in result.stdout


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_manifest_json_mode_follows_the_umask_not_always_0600(umask, mode, settings, run_ingest):
    old = os.umask(umask)
    try:
        run_ingest(settings)
    finally:
        os.umask(old)
    assert (settings.db_dir / "manifest.json").stat().st_mode & 0o777 == mode


@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux) to drop root's write override")
def test_ingest_into_a_read_only_db_is_a_one_line_error_not_an_oserror_traceback(read_only_index, course):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [SETPRIV, *NO_OVERRIDE, sys.executable, "-c", "from app.cli.main import main; main()",
         "ingest", "--corpus", str(course), "--db", str(read_only_index)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: Cannot write the index folder {read_only_index} (Permission denied)")
    assert "Pass --db with a writable folder" in line
