"""Per-file limits at ingest: a file over the size or chunk limit is reported in one line and skipped; the rest ingests."""
from __future__ import annotations

import random
import time

from core.index import IndexReader
from core.local_store import read_manifest


def random_words(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    vocabulary = ["lens", "mirror", "focus", "light", "star", "orbit", "planet", "dust", "gas", "spectrum", "telescope"]
    return " ".join(rng.choice(vocabulary) for _ in range(n))


def test_a_21_mb_markdown_file_of_random_words_is_reported_and_skipped_under_the_default_20_mb_limit(course, settings, run_ingest):
    big = course / "99-huge.md"
    with big.open("w") as out:
        out.write("# Huge\n\n")
        while out.tell() < 21_000_000:
            out.write(random_words(20_000) + "\n\n")
    messages: list[str] = []
    started = time.perf_counter()
    report = run_ingest(settings, log=messages.append)
    assert time.perf_counter() - started < 60, "the big file must not be read, chunked or embedded"
    (problem,) = report.problems
    assert problem.source == "99-huge.md" and "over the 20 MB limit" in problem.reason and "COURSE_GUIDE_MAX_FILE_BYTES" in problem.reason
    lines = [m for m in messages if "99-huge.md" in m]
    assert len(lines) == 1 and lines[0].startswith("error: 99-huge.md: is 21.")
    assert report.published and {c.source for c in IndexReader(settings.db_dir).chunks()} == {
        "01-telescopes.md", "notes/02-stars.txt", "03-planets.html", "04-galaxies.pdf"}


def test_a_file_of_6000_words_over_a_10_chunk_limit_is_refused_before_splitting_and_retried_when_the_limit_rises(course, settings, run_ingest):
    (course / "98-long.md").write_text("# Long\n\n" + random_words(6_000) + "\n")
    limited = settings.model_copy(update={"max_chunks_per_file": 10})
    messages: list[str] = []
    report = run_ingest(limited, log=messages.append)
    (problem,) = report.problems
    assert problem.source == "98-long.md" and "more than 10 chunks" in problem.reason
    assert "COURSE_GUIDE_MAX_CHUNKS_PER_FILE" in problem.reason
    assert [m for m in messages if "98-long.md" in m] == [f"error: 98-long.md: {problem.reason}"]
    assert report.published and "98-long.md" not in read_manifest(settings.db_dir).files

    again = run_ingest(limited)  # unchanged file, same limit: remembered, not tried again
    assert not again.published and [p.source for p in again.problems] == ["98-long.md"]

    raised = run_ingest(settings.model_copy(update={"max_chunks_per_file": 1000}))
    assert raised.problems == [] and read_manifest(settings.db_dir).files["98-long.md"].chunks > 10


def test_a_many_section_file_over_the_chunk_limit_is_refused(course, settings, run_ingest):
    sections = "".join(f"## Part {i}\n\nThe lens part {i} bends light.\n\n" for i in range(30))
    (course / "97-sections.md").write_text("# Sections\n\n" + sections)
    report = run_ingest(settings.model_copy(update={"max_chunks_per_file": 10}))
    assert [p.source for p in report.problems] == ["97-sections.md"] and "more than 10 chunks" in report.problems[0].reason
