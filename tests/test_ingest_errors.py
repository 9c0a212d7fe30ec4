"""Ingest failures that used to end in a traceback now end in one line that says what to do."""
from __future__ import annotations

import os

from chromadb.api.models.Collection import Collection
from chromadb.errors import InternalError
from click.testing import CliRunner

from app.cli.main import main
from core.index import IndexReader
from core.local_store import read_manifest
from core.store import GENERATION_PREFIX


def ingest_cli(settings) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["ingest", "--corpus", str(settings.corpus_dir), "--db", str(settings.db_dir)])
    return result.exit_code, result.output


def test_manifest_json_that_is_a_folder_gives_one_line_not_isadirectoryerror(settings):
    settings.db_dir.mkdir()
    (settings.db_dir / "manifest.json").mkdir()
    code, output = ingest_cli(settings)
    assert code == 1 and "Traceback" not in output, output
    error = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "manifest.json (Is a directory); it is a folder: move it out of the way" in error[0]
    assert not list(settings.db_dir.glob(".manifest-*")), "the temporary manifest is cleaned up"


def test_database_or_disk_is_full_during_ingest_simulated_by_monkeypatch_is_one_line_and_keeps_the_old_index(
    settings, course, run_ingest, monkeypatch
):
    # A real full disk needs a tiny mounted file system, which tests cannot make; Chroma's own error is raised instead.
    first = run_ingest(settings)
    (course / "01-telescopes.md").write_text("# Telescopes\n\nA refractor uses a lens to gather light.\n")

    def full(self, *args, **kwargs):
        raise InternalError("error returned from database: (code: 13) database or disk is full")

    monkeypatch.setattr(Collection, "add", full)
    code, output = ingest_cli(settings)
    assert code == 1 and "Traceback" not in output, output
    (error,) = [line for line in output.splitlines() if line.startswith("Error:")]
    assert "database or disk is full" in error and "free space" in error and "previous index is unchanged" in error
    monkeypatch.undo()
    assert read_manifest(settings.db_dir).generation == first.generation
    assert [p.name for p in settings.db_dir.glob(f"{GENERATION_PREFIX}*")] == [first.generation], "the half-written one is removed"
    assert IndexReader(settings.db_dir).count() == first.chunks


def test_no_space_while_writing_the_manifest_simulated_by_monkeypatch_is_one_line(settings, run_ingest, course, monkeypatch):
    first = run_ingest(settings)
    (course / "01-telescopes.md").write_text("# Telescopes\n\nA reflector uses a mirror.\n")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    code, output = ingest_cli(settings)
    monkeypatch.undo()
    assert code == 1 and "Traceback" not in output, output
    assert "(No space left on device); free disk space" in output
    assert read_manifest(settings.db_dir).generation == first.generation
