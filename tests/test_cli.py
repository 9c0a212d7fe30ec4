"""The course-guide CLI, driven as a user would, then checked against the real index."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import main
from core.index import IndexReader
from tests.conftest import free_port


def test_ask_prints_answer_and_numbered_sources(shipped_settings):
    result = CliRunner().invoke(main, ["ask", "--db", str(shipped_settings.db_dir), "What is a model registry?"])
    assert result.exit_code == 0, result.output
    answer, sources = result.output.split("\nSources:\n")
    assert "model registry is a central catalog" in answer and "[1]" in answer
    assert sources.lstrip().startswith("[1] Model Registry and Packaging")
    assert "http://127.0.0.1:7860/course/06-model-registry-and-packaging.md#" in sources


def test_ask_json_citations_point_at_retrieved_chunks_in_the_index(shipped_settings):
    result = CliRunner().invoke(main, ["ask", "--db", str(shipped_settings.db_dir), "--json", "What is concept drift?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    retrieved = {hit["chunk_id"]: hit for hit in data["retrieved"]}
    stored = {chunk.id: chunk for chunk in IndexReader(shipped_settings.db_dir).chunks()}
    assert data["citations"] and not data["refused"]
    for citation in data["citations"]:
        assert citation["chunk_id"] in retrieved
        chunk = stored[citation["chunk_id"]]
        assert (citation["source"], citation["section"], citation["title"]) == (chunk.source, chunk.section, chunk.title)
        assert citation["url"] == "http://127.0.0.1:7860" + chunk.link()


def test_ask_batch_reads_stdin_lines_and_loads_once(shipped_settings):
    stdin = "What is DVC?\n\nWho painted the Mona Lisa?\n   \n" + "x" * 2000 + "\n"
    result = CliRunner().invoke(main, ["ask", "--db", str(shipped_settings.db_dir), "--json", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"][:12] for r in records] == ["What is DVC?", "Who painted ", "x" * 12]
    assert records[0]["refused"] is False and records[0]["citations"][0]["source"] == "04-data-versioning-and-validation.md"
    assert records[1]["refused"] is True and records[1]["citations"] == []
    assert "2000 characters long" in records[2]["error"]


def test_ask_without_index_says_to_ingest(tmp_path):
    result = CliRunner().invoke(main, ["ask", "--db", str(tmp_path / "none"), "What is MLOps?"])
    assert result.exit_code == 1
    assert "No course index in" in result.output and "course-guide ingest" in result.output
    assert "Traceback" not in result.output


def test_empty_question_is_a_one_line_error(shipped_settings):
    result = CliRunner().invoke(main, ["ask", "--db", str(shipped_settings.db_dir), "  "])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: Please type a question about the course, for example: What is MLOps?"


def test_env_settings_are_read_and_flags_override_them(shipped_settings, tmp_path):
    env = {"COURSE_GUIDE_DB_DIR": str(shipped_settings.db_dir), "COURSE_GUIDE_PUBLIC_URL": "https://guide.example.edu"}
    result = CliRunner().invoke(main, ["ask", "--json", "What is DVC?"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["citations"][0]["url"].startswith("https://guide.example.edu/course/")
    result = CliRunner().invoke(main, ["ask", "--db", str(tmp_path / "other"), "What is DVC?"], env=env)
    assert result.exit_code == 1 and str(tmp_path / "other") in result.output
    bad = CliRunner().invoke(main, ["ask", "What is DVC?"], env={"COURSE_GUIDE_TOP_K": "lots"})
    assert bad.exit_code == 1 and "Invalid setting" in bad.output and "top_k" in bad.output


@pytest.mark.model  # the command it runs loads the real model
def test_installed_command_ingests_and_answers(course, tmp_path):
    """The real console script, in a fresh process: what a user types."""
    exe = Path(sys.executable).with_name("course-guide")
    db = tmp_path / "index"
    env = {**os.environ, "COURSE_GUIDE_CORPUS_DIR": str(course), "COURSE_GUIDE_DB_DIR": str(db)}
    ingest = subprocess.run([exe, "ingest"], capture_output=True, text=True, env=env, timeout=300)
    assert ingest.returncode == 0, ingest.stderr
    assert "skipped images/diagram.png" in ingest.stderr
    assert ingest.stdout.strip().startswith("4 files (1 skipped); chunks:")
    ask = subprocess.run(
        [exe, "ask", "--json", "What does a reflector telescope use instead of a lens?"],
        capture_output=True, text=True, env={**env, "COURSE_GUIDE_REFUSAL_THRESHOLD": "0.2"}, timeout=300,
    )
    assert ask.returncode == 0, ask.stderr
    data = json.loads(ask.stdout)
    assert data["citations"][0]["source"] == "01-telescopes.md"
    assert "curved mirror" in data["answer"]


@pytest.mark.model  # the command it runs loads the real model
def test_serve_command_warns_without_index_and_still_serves(tmp_path):
    """`course-guide serve` as a user starts it: the log says to ingest, and the page loads."""
    exe = Path(sys.executable).with_name("course-guide")
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen([exe, "serve", "--db", str(tmp_path / "none"), "--port", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        deadline = time.monotonic() + 120
        while "serving at" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        text = log.read_text()
        assert "No course index in" in text and "course-guide ingest" in text
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the chat page never answered")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_ingest_shows_a_progress_bar_while_embedding(settings, run_ingest, capfd):
    report = run_ingest(settings, progress=True)
    assert report.embedded > 0
    assert "Batches: 100%" in capfd.readouterr().err


def test_a_batch_over_the_question_limit_answers_the_first_ones_and_names_the_rest(shipped_settings):
    lines = "What is a model registry?\nWhat is data drift?\nWhat is a feature store?\n"
    result = CliRunner().invoke(main, ["ask", "-", "--db", str(shipped_settings.db_dir)], input=lines,
                                env={"COURSE_GUIDE_MAX_BATCH_QUESTIONS": "2"})
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [("error" in r) for r in records] == [False, False, True]
    assert records[2]["line"] == 3 and "COURSE_GUIDE_MAX_BATCH_QUESTIONS" in records[2]["error"]
