"""Generations under a long-running reader: replaced ones are closed (files, threads, disk freed), stray ones pruned."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from core.index import IndexReader
from core.local_store import LocalStore, read_manifest
from core.settings import Settings
from core.store import GENERATION_PREFIX


def open_files() -> list[str]:
    """What this process holds open, from /proc/self/fd."""
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the fd listing itself, closed meanwhile
            continue
    return targets


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def generation_folders(db_dir: Path) -> list[str]:
    return sorted(p.name for p in db_dir.glob(f"{GENERATION_PREFIX}*"))


def small_course(root: Path) -> Path:
    root.mkdir()
    (root / "01-lenses.md").write_text("# Lenses\n\nA convex lens bends light towards a focus.\n")
    return root


def test_twenty_publishes_under_one_reader_keep_fds_threads_flat_and_free_pruned_files(tmp_path, run_ingest, embedder):
    course = small_course(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    query = embedder.encode(["How does a lens focus light?"])[0]
    reader = IndexReader(settings.db_dir)

    def publish_and_ask(edit: int) -> None:
        (course / "01-lenses.md").write_text(f"# Lenses\n\nA convex lens bends light towards a focus. Edit {edit}.\n")
        assert run_ingest(settings).published
        assert reader.search(query, 3)[0].chunk.text.endswith(f"Edit {edit}.")

    for edit in range(3):  # warm up: the first publishes open Chroma's shared pieces once
        publish_and_ask(edit)
    fds_before, threads_before = len(open_files()), native_threads()
    for edit in range(3, 23):
        publish_and_ask(edit)
    fds_after, threads_after = len(open_files()), native_threads()

    # Before the fix each publish added ~11 descriptors and 3 threads: 20 publishes would add ~220 and ~60.
    assert fds_after - fds_before <= 5, (fds_before, fds_after)
    assert threads_after - threads_before <= 3, (threads_before, threads_after)
    held_deleted = [t for t in open_files() if t.endswith("(deleted)") and str(settings.db_dir) in t]
    assert held_deleted == [], "pruned generations' files are still open, so their disk is not freed"
    live = read_manifest(settings.db_dir)
    assert generation_folders(settings.db_dir) == sorted([live.generation, live.previous])
    reader.close()


def test_a_read_that_spans_a_publish_finishes_on_its_generation(tmp_path, run_ingest, embedder):
    course = small_course(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    run_ingest(settings)
    reader = IndexReader(settings.db_dir)
    with reader._reading() as (manifest, collection):
        (course / "01-lenses.md").write_text("# Lenses\n\nA concave lens spreads light out.\n")
        run_ingest(settings)
        assert reader.refresh().generation != manifest.generation  # the reader moved on ...
        assert collection.count() == 1  # ... but the read in flight still has its generation open
    assert "concave" in reader.chunks()[0].text
    reader.close()


def test_a_third_generation_left_by_a_kill_before_prune_is_pruned_by_a_later_run(tmp_path, run_ingest):
    course = small_course(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    run_ingest(settings)
    (course / "01-lenses.md").write_text("# Lenses\n\nEdited once.\n")
    run_ingest(settings)
    stray = settings.db_dir / f"{GENERATION_PREFIX}20000101T000000-dead00"
    stray.mkdir()  # what a kill between the manifest switch and the prune leaves behind
    (stray / "chroma.sqlite3").write_bytes(b"x" * 1024)
    report = run_ingest(settings)  # nothing changed: no publish, but the stray generation goes
    live = read_manifest(settings.db_dir)
    assert not report.published and not stray.exists()
    assert generation_folders(settings.db_dir) == sorted([live.generation, live.previous])


def test_a_quiz_only_change_reports_published_true(settings, course, run_ingest):
    first = run_ingest(settings)
    (course / "quizzes").mkdir()
    (course / "quizzes" / "astro.yaml").write_text(
        "items:\n  - id: telescope-refractor\n    type: multiple_choice\n"
        "    question: Which telescope uses a lens as its objective?\n    choices: [Refractor, Reflector]\n"
        "    answer: Refractor\n    explanation: A refractor is a telescope that uses a lens as its objective.\n"
        "    lesson: 01-telescopes.md\n    section: Refractors\n"
    )
    report = run_ingest(settings)
    assert report.published and report.to_dict()["published"] is True, "the manifest was rewritten with new quiz items"
    assert report.generation == first.generation and report.embedded == 0
    assert not run_ingest(settings).published, "nothing changed the second time"


def ten_lesson_course(root: Path) -> Path:
    root.mkdir()
    for n in range(10):
        (root / f"{n:02d}-lesson.md").write_text(f"# Lesson {n}\n\nLesson {n} is about optics topic number {n}.\n")
    return root


def test_a_one_lesson_edit_is_published_by_copy_and_a_reader_sees_only_the_old_or_the_new_course(tmp_path, run_ingest, monkeypatch):
    course = ten_lesson_course(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", publish_by_copy=True)
    run_ingest(settings)
    copies: list[tuple[str, str]] = []
    real_copy = LocalStore.copy_generation

    def counting_copy(self, source, target):
        copies.append((source, target))
        real_copy(self, source, target)

    monkeypatch.setattr(LocalStore, "copy_generation", counting_copy)
    reader = IndexReader(settings.db_dir)
    old_course = frozenset(chunk.text for chunk in reader.chunks())
    (course / "03-lesson.md").write_text("# Lesson 3\n\nLesson 3 is now about mirrors and nothing else.\n")
    seen: set[frozenset[str]] = set()
    publishing = threading.Event()
    publishing.set()

    def keep_reading() -> None:
        while publishing.is_set():
            seen.add(frozenset(chunk.text for chunk in reader.chunks()))

    watcher = threading.Thread(target=keep_reading)
    watcher.start()
    try:
        report = run_ingest(settings)
    finally:
        publishing.clear()
        watcher.join()
    new_course = frozenset(chunk.text for chunk in reader.chunks())
    assert report.published and report.embedded == 1 and (report.updated, report.unchanged, report.chunks) == (1, 9, 10)
    assert copies and copies[0][1] == report.generation, "the edit was published by copying the live generation"
    (gone,), (added,) = old_course - new_course, new_course - old_course
    assert "topic number 3" in gone and "mirrors" in added
    assert seen <= {old_course, new_course}, "a reader saw a half-published course"
    live = read_manifest(settings.db_dir)
    assert live.files["03-lesson.md"].chunks == 1 and live.chunk_count == 10
    assert generation_folders(settings.db_dir) == sorted([live.generation, live.previous])
    reader.close()


@pytest.mark.parametrize("change", ["delete-a-lesson", "add-a-lesson"])
def test_a_small_change_by_copy_holds_the_same_chunks_as_a_full_rebuild(tmp_path, run_ingest, change):
    course = ten_lesson_course(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", publish_by_copy=True)
    run_ingest(settings)
    if change == "delete-a-lesson":
        (course / "05-lesson.md").unlink()
    else:
        (course / "10-lesson.md").write_text("# Lesson 10\n\nLesson 10 is about prisms.\n")
    report = run_ingest(settings)
    by_copy = IndexReader(settings.db_dir)
    copied = sorted((c.id, c.text, c.source, c.ordinal, c.file_sha) for c in by_copy.chunks())
    by_copy.close()
    rebuilt_settings = Settings(corpus_dir=course, db_dir=tmp_path / "rebuilt")
    run_ingest(rebuilt_settings)
    rebuilt = IndexReader(rebuilt_settings.db_dir)
    assert copied == sorted((c.id, c.text, c.source, c.ordinal, c.file_sha) for c in rebuilt.chunks())
    rebuilt.close()
    assert (report.removed, report.added) == ((1, 0) if change == "delete-a-lesson" else (0, 1))
    assert read_manifest(settings.db_dir).files == read_manifest(rebuilt_settings.db_dir).files


def test_a_collection_is_read_in_pages_so_a_very_large_course_stays_readable(tmp_path):
    """Chroma reads a whole collection in one SQLite statement with a variable per record, which fails past 32,766
    records ("too many SQL variables", found by the 100k-chunk bench); pages of a few records give the same result."""
    from core.local_store import open_client_and_collection
    from core.store import get_every_record

    client, collection = open_client_and_collection(tmp_path / "gen", create=True)
    try:
        ids = [f"c{n:02d}" for n in range(7)]
        collection.add(ids=ids, embeddings=[[1.0, float(n), 0.5] for n in range(7)], documents=[f"text {n}" for n in range(7)],
                       metadatas=[{"n": n} for n in range(7)])
        whole = collection.get(include=["documents", "metadatas", "embeddings"])
        for page in (1, 3, 7, 50):
            paged = get_every_record(collection, ["documents", "metadatas", "embeddings"], page=page)
            assert paged["ids"] == list(whole["ids"]) and paged["documents"] == list(whole["documents"]), page
            assert paged["metadatas"] == list(whole["metadatas"]) and [list(e) for e in paged["embeddings"]] == [list(e) for e in whole["embeddings"]]
    finally:
        client.close()


@pytest.mark.parametrize("edited", ["05-lesson.md", "03-lesson.md"], ids=["edit-a-lesson-a-quiz-names", "edit-another-lesson"])
def test_quiz_items_after_a_by_copy_publish_are_those_of_a_full_rebuild(tmp_path, fake_embedder, monkeypatch, edited):
    """By copy, quiz items are resolved against only the chunks of the lessons the quiz files name, not every chunk."""
    from ingest.pipeline import ingest_corpus

    course = tmp_path / "course"
    course.mkdir()
    for n in range(20):
        (course / f"{n:02d}-lesson.md").write_text(f"# Lesson {n}\n\nLesson {n} is about optics topic number {n}.\n")
    (course / "quizzes").mkdir()
    (course / "quizzes" / "optics.yaml").write_text(
        "items:\n  - id: topic-five\n    type: short_answer\n    question: What is lesson 5 about?\n    answer: optics topic number 5\n"
        "    explanation: Lesson 5 is about optics topic number 5.\n    lesson: 05-lesson.md\n    section: Lesson 5\n"
        "  - id: nowhere\n    type: short_answer\n    question: Where?\n    answer: nowhere\n    explanation: Nowhere.\n"
        "    lesson: 99-missing.md\n    section: Missing\n"
    )
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", publish_by_copy=True)
    ingest_corpus(settings, lambda: fake_embedder)
    (course / edited).write_text(f"# Lesson {edited[:2].lstrip('0') or '0'}\n\nNow about mirrors, optics topic number 5.\n")
    copies: list[str] = []
    real_copy = LocalStore.copy_generation
    monkeypatch.setattr(LocalStore, "copy_generation", lambda self, source, target: (copies.append(target), real_copy(self, source, target)))
    by_copy = ingest_corpus(settings, lambda: fake_embedder)
    assert copies == [by_copy.generation], "published by copy"
    rebuilt = ingest_corpus(settings.model_copy(update={"db_dir": tmp_path / "rebuilt"}), lambda: fake_embedder)
    assert (by_copy.quiz_items, [p.message() for p in by_copy.quiz_problems]) == (rebuilt.quiz_items, [p.message() for p in rebuilt.quiz_problems])
    assert by_copy.quiz_items == 1 and "99-missing.md" in by_copy.quiz_problems[0].message()
    assert read_manifest(settings.db_dir).quiz_items == read_manifest(tmp_path / "rebuilt").quiz_items


@pytest.mark.parametrize("journal_mode", ["delete", "wal"], ids=["rollback-journal-as-chroma", "wal"])
def test_a_sqlite_file_copied_while_another_connection_writes_holds_whole_transactions(tmp_path, journal_mode):
    """copy_database (the by-copy publish's copy of Chroma's SQLite file) copies under SQLite's shared lock, or by the
    online backup in WAL mode: each copy is a sound database holding whole transactions only."""
    import sqlite3

    from core.local_store import copy_database

    live = tmp_path / "live.sqlite3"
    with sqlite3.connect(live) as setup:
        setup.execute(f"PRAGMA journal_mode={journal_mode}")
        setup.execute("CREATE TABLE rows (batch INTEGER, filler TEXT)")
    writing = threading.Event()
    writing.set()

    def write_batches() -> None:
        writer = sqlite3.connect(live, timeout=30)
        batch = 0
        while writing.is_set():
            with writer:  # one transaction of 100 rows
                writer.executemany("INSERT INTO rows VALUES (?, ?)", [(batch, "x" * 200)] * 100)
            batch += 1
        writer.close()

    thread = threading.Thread(target=write_batches)
    thread.start()
    try:
        for attempt in range(15):
            copy = tmp_path / f"copy-{attempt}.sqlite3"
            copy_database(live, copy)
            check = sqlite3.connect(copy)
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            counts = check.execute("SELECT count(*) FROM rows GROUP BY batch").fetchall()
            assert all(count == (100,) for count in counts), "a copy held part of a transaction"
            check.close()
    finally:
        writing.clear()
        thread.join()
