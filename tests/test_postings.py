"""Word counts stored beside a generation (core.postings): counted once at ingest, kept for unchanged files by a
by-copy publish, and the same BM25 whether a server reads them or counts the chunks itself; fake embedder only."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.engine.guide import open_guide
from app.engine.retrieval import LexicalIndex
from core.local_store import LocalStore, read_manifest
from core.postings import POSTINGS_FILE, Postings
from core.settings import Settings
from core.types import Chunk
from ingest.pipeline import ingest_corpus


def _chunk(source: str, ordinal: int, text: str) -> Chunk:
    title = source.removesuffix(".md").title()
    return Chunk(f"{source}-{ordinal}-{text[:8]}", text, source, title, f"{title} > Part {ordinal}", None, None, ordinal, "sha")


OPTICS = [
    _chunk("a-lenses.md", 0, "A convex lens bends light to a focus."),
    _chunk("a-lenses.md", 1, "Lens makers grind glass; a lens lens lens repeated."),
    _chunk("b-mirrors.md", 0, "A concave mirror focuses light too."),
    _chunk("c-prisms.md", 0, "Prisms split light into colours."),
    _chunk("c-prisms.md", 1, "Telescopes gather light with a lens or a mirror."),
]


def _same(one: Postings, other: Postings) -> bool:
    return (
        one.ids.tolist() == other.ids.tolist() and one.sources.tolist() == other.sources.tolist()
        and one.ordinals.tolist() == other.ordinals.tolist() and one.vocabulary.tolist() == other.vocabulary.tolist()
        and one.counts.indptr.tolist() == other.counts.indptr.tolist() and one.counts.indices.tolist() == other.counts.indices.tolist()
        and one.counts.data.tolist() == other.counts.data.tolist()
    )


@pytest.mark.parametrize(
    "replaced, fresh",
    [
        ({"b-mirrors.md"}, [_chunk("b-mirrors.md", 0, "A zorblatt mirror is new here.")]),  # an edit that brings a new word
        ({"c-prisms.md"}, []),  # a deleted lesson: "colours" and "prisms" leave the vocabulary
        (set(), [_chunk("aa-eyepieces.md", 0, "An eyepiece magnifies the image.")]),  # a new lesson, sorted in between
        ({"a-lenses.md"}, [_chunk("a-lenses.md", 0, "Lenses."), _chunk("a-lenses.md", 1, "More lenses."), _chunk("a-lenses.md", 2, "Glass.")]),
    ],
    ids=["edit-with-a-new-word", "delete-a-lesson", "add-a-lesson", "edit-into-more-chunks"],
)
def test_replacing_some_files_counts_what_counting_the_next_generation_does(replaced, fresh):
    kept = [chunk for chunk in OPTICS if chunk.source not in replaced]
    assert _same(Postings.from_chunks(OPTICS).replacing(replaced | {c.source for c in fresh}, fresh), Postings.from_chunks(kept + fresh))


def test_bm25_from_stored_counts_is_the_bm25_of_counting_the_chunks(tmp_path):
    Postings.from_chunks(OPTICS).save(tmp_path)
    stored = LexicalIndex("gen-test", OPTICS, Postings.load(tmp_path))
    counted = LexicalIndex("gen-test", OPTICS)
    assert stored.idf == counted.idf
    for question in ("lens light", "lens lens mirror", "prisms colours", "quasar", ""):
        assert stored.search(question, 5) == counted.search(question, 5), question


def test_counts_of_another_generation_are_not_used(tmp_path):
    """A server may read a generation whose stored counts do not match its chunks (ids differ): it counts the chunks."""
    other = LexicalIndex("gen-test", OPTICS, Postings.from_chunks(OPTICS[:2]))
    assert [c.id for c, _ in other.search("mirror", 5)] == [c.id for c, _ in LexicalIndex("gen-test", OPTICS).search("mirror", 5)]


@pytest.mark.parametrize("damage", ["truncated", "not-a-zip", "missing"])
def test_damaged_or_missing_counts_are_ignored_with_a_warning(tmp_path, caplog, damage):
    Postings.from_chunks(OPTICS).save(tmp_path)
    path = tmp_path / POSTINGS_FILE
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "not-a-zip":
        path.write_text("hello")
    else:
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="course_guide"):
        assert Postings.load(tmp_path) is None
    assert ("counting them from the chunks" in caplog.text) == (damage != "missing")


def twenty_lessons(root: Path) -> Path:
    root.mkdir()
    for n in range(20):
        (root / f"{n:02d}-lesson.md").write_text(f"# Lesson {n}\n\nLesson {n} is about optics topic number {n}.\n")
    return root


@pytest.mark.parametrize("by_copy", [True, False], ids=["by-copy", "whole-generation"])
def test_each_publish_stores_the_counts_of_its_chunks_and_the_guide_uses_them(tmp_path, fake_embedder, monkeypatch, by_copy):
    course = twenty_lessons(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", publish_by_copy=by_copy)
    ingest_corpus(settings, lambda: fake_embedder)
    (course / "03-lesson.md").write_text("# Lesson 3\n\nLesson 3 is now about zorblatt mirrors.\n")
    (course / "07-lesson.md").unlink()
    counted: list[int] = []
    real_from_chunks = Postings.from_chunks.__func__  # type: ignore[attr-defined]

    def counting(cls, chunks):
        chunks = list(chunks)
        counted.append(len(chunks))
        return real_from_chunks(cls, chunks)

    monkeypatch.setattr(Postings, "from_chunks", classmethod(counting))
    report = ingest_corpus(settings, lambda: fake_embedder)
    assert report.published and report.chunks == 19
    assert counted == ([1] if by_copy else [19]), "by copy, only the edited lesson's chunk is counted"
    live = read_manifest(settings.db_dir)
    assert live is not None
    guide = open_guide(settings, fake_embedder)
    stored = LocalStore(settings.db_dir).load_postings(live.generation)
    assert stored is not None and _same(stored, real_from_chunks(Postings, guide.index.chunks()))
    counted.clear()
    hits = guide.retrieve("zorblatt mirrors", k=3)
    assert counted == [], "the guide read the stored counts instead of counting every chunk"
    assert "zorblatt" in hits[0].chunk.text
    guide.index.close()


def test_an_index_built_before_counts_were_stored_still_serves_and_publishes_by_copy(tmp_path, fake_embedder):
    course = twenty_lessons(tmp_path / "course")
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index", publish_by_copy=True)
    ingest_corpus(settings, lambda: fake_embedder)
    first = read_manifest(settings.db_dir)
    assert first is not None
    (settings.db_dir / first.generation / POSTINGS_FILE).unlink()  # as an index from before this change
    (course / "03-lesson.md").write_text("# Lesson 3\n\nLesson 3 is now about zorblatt mirrors.\n")
    report = ingest_corpus(settings, lambda: fake_embedder)
    assert report.published and report.generation != first.generation
    assert not (settings.db_dir / report.generation / POSTINGS_FILE).exists(), "nothing to keep, so nothing stored"
    guide = open_guide(settings, fake_embedder)
    assert "zorblatt" in guide.retrieve("zorblatt mirrors", k=3)[0].chunk.text
    guide.index.close()
