"""Ingest on a real fixture course with the real model and a real Chroma in a temp dir."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.main import main
from core.index import IndexReader
from core.local_store import read_manifest
from core.types import Chunk
from ingest.loaders import CourseSite, list_course_files, load_document
from ingest.pipeline import IngestError


def stored_chunks(settings) -> list[Chunk]:
    return IndexReader(settings.db_dir).chunks()


def test_ingest_fixture_course_keeps_structure(settings, run_ingest):
    report = run_ingest(settings)

    assert report.files == 4
    assert report.skipped == ["images/diagram.png"]
    assert report.problems == []
    assert report.published and report.added == report.chunks > 0
    chunks = stored_chunks(settings)
    assert {c.source for c in chunks} == {"01-telescopes.md", "notes/02-stars.txt", "03-planets.html", "04-galaxies.pdf"}

    by_text = {c.text.split(".")[0]: c for c in chunks}
    lens = by_text["An achromatic doublet combines two kinds of glass to reduce chromatic aberration"]
    assert lens.title == "Telescopes"
    assert lens.section == "Telescopes > Refractors > Lens design"
    assert lens.anchor == "lens-design" and lens.page is None

    stars = next(c for c in chunks if "main sequence" in c.text)
    assert (stars.title, stars.section, stars.anchor) == ("Stars", "Stars > Life cycle", "life-cycle")

    planets = next(c for c in chunks if "gas giants made mostly" in c.text)
    assert (planets.title, planets.section, planets.anchor) == ("The Planets", "The Planets > Gas giants", "gas-giants")
    assert not any("alert" in c.text for c in chunks), "script content is not course text"

    pdf = sorted((c for c in chunks if c.source == "04-galaxies.pdf"), key=lambda c: c.ordinal)
    assert [c.page for c in pdf] == [1, 2, 3]
    assert [c.section for c in pdf] == [
        "Galaxies handout > Galaxies",
        "Galaxies handout > Spiral galaxies",
        "Galaxies handout > Elliptical galaxies",
    ]
    assert "spiral arms" in pdf[1].text and pdf[1].link() == "/course/04-galaxies.pdf#page=2"

    for source in {c.source for c in chunks}:
        ordinals = sorted(c.ordinal for c in chunks if c.source == source)
        assert ordinals == list(range(len(ordinals)))
    assert len({c.id for c in chunks}) == len(chunks)
    assert "4 files (1 skipped)" in report.summary_line() and f"{report.chunks} added" in report.summary_line()


def test_chunk_ids_are_stable_across_indexes(course, tmp_path, run_ingest, settings):
    run_ingest(settings)
    again = settings.model_copy(update={"db_dir": tmp_path / "other-index"})
    run_ingest(again)
    assert {c.id for c in stored_chunks(settings)} == {c.id for c in stored_chunks(again)}


def test_no_chunk_is_truncated_by_the_model(shipped_settings, embedder, course, settings, run_ingest):
    # A long paragraph with no sentence breaks must still be split to fit.
    (course / "05-long.md").write_text("# Long\n\n## Wall\n\n" + " ".join(["telescope mirror lens"] * 400) + "\n")
    run_ingest(settings)
    chunks = stored_chunks(settings) + stored_chunks(shipped_settings)
    longest = max(embedder.count_tokens(c.embed_text()) for c in chunks)
    assert longest <= embedder.max_tokens == 256
    assert sum(c.source == "05-long.md" for c in chunks) >= 5


def test_reingest_unchanged_stores_and_embeds_nothing(settings, run_ingest):
    first = run_ingest(settings)
    asked = []
    from ingest.pipeline import ingest_corpus

    second = ingest_corpus(settings, lambda: asked.append(1))  # the model must not even be loaded
    assert asked == []
    assert (second.added, second.updated, second.removed, second.unchanged) == (0, 0, 0, first.chunks)
    assert not second.published and second.generation == first.generation
    assert len(stored_chunks(settings)) == first.chunks


def test_reingest_after_edit_and_delete(settings, course, run_ingest):
    first = run_ingest(settings)
    before = stored_chunks(settings)
    telescope_before = [c for c in before if c.source == "01-telescopes.md"]

    path = course / "01-telescopes.md"
    path.write_text(path.read_text().replace("Isaac Newton built the first practical reflector in 1668.",
                                             "Isaac Newton built an early reflector in 1668 to avoid colour fringes."))
    (course / "03-planets.html").unlink()
    report = run_ingest(settings)

    planets = [c for c in before if c.source == "03-planets.html"]
    assert report.updated == 1 and report.added == 0
    assert report.removed == len(planets)
    assert report.unchanged == first.chunks - len(planets) - 1
    after = stored_chunks(settings)
    assert len(after) == len({c.id for c in after}) == read_manifest(settings.db_dir).chunk_count
    assert not any(c.source == "03-planets.html" for c in after), "deleted file left orphans"
    telescope_after = [c for c in after if c.source == "01-telescopes.md"]
    assert len(telescope_after) == len(telescope_before)
    assert any("avoid colour fringes" in c.text for c in telescope_after)
    assert not any("first practical reflector" in c.text for c in after)
    # Every chunk of the edited file carries the new file hash, even those whose text (and vector) was reused.
    assert len({c.file_sha for c in telescope_after}) == 1 and telescope_after[0].file_sha != telescope_before[0].file_sha


def _encrypted_pdf(path: Path, source: Path) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    writer.write(path)
    return path.read_bytes()


BAD_FILES = {
    "corrupt.pdf": (lambda course: b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage without xref", "not a readable PDF"),
    "encrypted.pdf": (lambda course: _encrypted_pdf(course / "tmp.pdf", course / "04-galaxies.pdf"), "encrypted"),
    "empty.md": (lambda course: b"", "empty"),
    "blank.txt": (lambda course: b"  \n\n \t\n", "empty"),
    "binary.txt": (lambda course: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "binary"),
    "latin1.md": (lambda course: "# Café\n\nCrème brûlée is not UTF-8 here.".encode("latin-1"), "not valid UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_reported_and_the_rest_ingests(name, course, settings, run_ingest):
    make, reason = BAD_FILES[name]
    data = make(course)
    (course / "tmp.pdf").unlink(missing_ok=True)
    (course / name).write_bytes(data)

    report = run_ingest(settings)

    assert [p.source for p in report.problems] == [name]
    assert reason in report.problems[0].reason
    assert "\n" not in report.problems[0].message()
    sources = {c.source for c in stored_chunks(settings)}
    assert sources == {"01-telescopes.md", "notes/02-stars.txt", "03-planets.html", "04-galaxies.pdf"}


def test_cli_reports_bad_file_and_strict_fails_without_touching_the_index(course, settings, run_ingest):
    run_ingest(settings)
    before = read_manifest(settings.db_dir)
    (course / "binary.md").write_bytes(b"\x00\x01\x02binary")
    (course / "new-lesson.md").write_text("# Comets\n\nA comet is an icy body that grows a tail near the Sun.\n")
    args = ["ingest", "--corpus", str(course), "--db", str(settings.db_dir)]

    strict = CliRunner().invoke(main, args + ["--strict"])
    assert strict.exit_code == 1
    assert "binary.md: looks like a binary file" in strict.output
    assert "--strict" in strict.output and "index was not changed" in strict.output
    assert read_manifest(settings.db_dir).generation == before.generation

    lenient = CliRunner().invoke(main, args + ["--json"])
    assert lenient.exit_code == 0, lenient.output
    report = json.loads(lenient.stdout.strip().splitlines()[-1])
    assert report["problems"][0]["source"] == "binary.md" and report["added"] >= 1
    assert any(c.source == "new-lesson.md" for c in stored_chunks(settings))


def test_file_that_turns_bad_keeps_its_previous_chunks(course, settings, run_ingest):
    run_ingest(settings)
    before = [c.id for c in stored_chunks(settings) if c.source == "notes/02-stars.txt"]
    (course / "notes" / "02-stars.txt").write_bytes(b"caf\xe9 broken encoding")
    report = run_ingest(settings)
    assert report.problems[0].source == "notes/02-stars.txt"
    assert [c.id for c in stored_chunks(settings) if c.source == "notes/02-stars.txt"] == before


def test_failed_ingest_leaves_the_previous_index_usable(course, settings, run_ingest, embedder):
    from app.engine.answer import answer_question
    from app.engine.guide import open_guide
    from ingest.pipeline import ingest_corpus

    run_ingest(settings)
    before = read_manifest(settings.db_dir)
    guide = open_guide(settings.model_copy(update={"refusal_threshold": 0.0}), embedder)
    (course / "06-comets.md").write_text("# Comets\n\nA comet is an icy body that grows a tail near the Sun.\n")

    class FailingEmbedder:
        """The real model, failing halfway through the ingest as a crash or Ctrl-C would."""

        name, max_tokens = embedder.name, embedder.max_tokens
        count_tokens = staticmethod(embedder.count_tokens)

        def encode(self, texts, **options):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_corpus(settings, FailingEmbedder)

    assert read_manifest(settings.db_dir).generation == before.generation
    answer = answer_question(guide, "What does a reflector telescope use instead of a lens?")
    assert answer.citations[0].source == "01-telescopes.md"

    report = run_ingest(settings)
    assert report.added >= 1 and report.published
    generations = sorted(p.name for p in settings.db_dir.glob("gen-*"))
    assert generations == sorted([before.generation, report.generation]), "the half-written generation was not cleaned up"
    answer = answer_question(guide, "What is a comet?")
    assert answer.citations[0].source == "06-comets.md", "the reader did not follow the new generation"


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path, run_ingest, settings):
    with pytest.raises(IngestError, match="No course folder at .*--corpus"):
        run_ingest(settings.model_copy(update={"corpus_dir": tmp_path / "nope"}))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.xlsx").write_bytes(b"PK")  # a spreadsheet: not a course format
    with pytest.raises(IngestError, match="No course documents in"):
        run_ingest(settings.model_copy(update={"corpus_dir": empty}))


def test_changing_chunk_size_rebuilds_everything(settings, run_ingest):
    first = run_ingest(settings)
    report = run_ingest(settings.model_copy(update={"chunk_tokens": 64}))
    assert report.published and report.unchanged == 0
    assert report.embedded == report.chunks >= first.chunks
    assert read_manifest(settings.db_dir).config["chunk_tokens"] == 64


def test_long_heading_is_reported_not_silently_truncated(course, settings, run_ingest, embedder):
    heading = " ".join(["regularisation"] * 300)
    (course / "05-long-heading.md").write_text(f"# Lesson\n\n## {heading}\n\nL2 regularisation adds a penalty on weights.\n")
    report = run_ingest(settings)
    assert [p.source for p in report.problems] == ["05-long-heading.md"]
    assert "shorten its heading" in report.problems[0].reason
    assert max(embedder.count_tokens(c.embed_text()) for c in stored_chunks(settings)) <= embedder.max_tokens


def test_unchanged_bad_file_does_not_force_a_rebuild(course, settings, run_ingest):
    (course / "empty.md").write_bytes(b"")
    first = run_ingest(settings)
    assert [p.source for p in first.problems] == ["empty.md"]
    from ingest.pipeline import ingest_corpus

    asked = []
    again = ingest_corpus(settings, lambda: asked.append(1))
    assert asked == [] and not again.published and again.generation == first.generation
    assert [p.source for p in again.problems] == ["empty.md"], "the problem is still reported"
    with pytest.raises(IngestError, match="--strict"):
        ingest_corpus(settings, lambda: asked.append(1), strict=True)
    (course / "empty.md").unlink()
    fixed = ingest_corpus(settings, lambda: asked.append(1))
    assert fixed.problems == [] and read_manifest(settings.db_dir).failed == {}


def test_moved_course_folder_updates_the_manifest_without_reembedding(course, settings, run_ingest, tmp_path):
    first = run_ingest(settings)
    moved = tmp_path / "moved-course"
    course.rename(moved)
    from ingest.pipeline import ingest_corpus

    report = ingest_corpus(settings.model_copy(update={"corpus_dir": moved}), lambda: pytest.fail("model loaded"))
    assert report.unchanged == first.chunks and not report.published
    assert read_manifest(settings.db_dir).corpus_dir == str(moved.resolve())


def test_inline_html_and_wrapped_headings_in_markdown(course, settings, run_ingest):
    (course / "05-media.md").write_text(
        "# Media\n\nWatch <iframe src=\"http://evil.example/x\"></iframe> this short video on lenses.\n\n"
        "Setext heading line one\n**continued** here\n---\n\nBody of the wrapped heading section.\n"
    )
    run_ingest(settings)
    chunks = [c for c in stored_chunks(settings) if c.source == "05-media.md"]
    assert not any("iframe" in c.text or "evil.example" in c.text for c in chunks)
    assert "Watch  this short video on lenses." in chunks[0].text
    assert chunks[1].section == "Media > Setext heading line one continued here"
    assert chunks[1].anchor == "setext-heading-line-one-continued-here"


@pytest.mark.parametrize("damage", ["db-is-a-file", "corrupt-manifest", "missing-generation"])
def test_damaged_index_gives_a_clear_message_and_ingest_repairs_it(damage, course, settings, run_ingest, tmp_path):
    if damage == "db-is-a-file":
        target = tmp_path / "not-a-folder"
        target.write_text("x")
        with pytest.raises(IngestError, match="Cannot use .* as the index folder"):
            run_ingest(settings.model_copy(update={"db_dir": target}))
        return
    first = run_ingest(settings)
    if damage == "corrupt-manifest":
        (settings.db_dir / "manifest.json").write_text("{not json")
    else:
        shutil.rmtree(settings.db_dir / first.generation)
    result = CliRunner().invoke(main, ["ask", "--db", str(settings.db_dir), "What is a refractor?"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "is damaged" in result.output and "course-guide ingest" in result.output
    repaired = run_ingest(settings)
    assert repaired.published and repaired.chunks == first.chunks
    assert IndexReader(settings.db_dir).count() == first.chunks


def test_token_counts_match_the_hugging_face_tokenizer(embedder):
    """count_tokens asks the Rust tokenizer directly (core.model.token_counter): the same number as the Hugging Face
    call it replaced, special tokens included and nothing truncated, even right after an encode (which truncates)."""
    tokenizer = embedder.model.tokenizer
    texts = ["", "   ", "Short text.", "Ünïcödé naïve café — “quotes” 中文 😀", "[CLS] [SEP] [MASK] x", "drift " * 600, "a" * 3000]
    corpus = Path(__file__).resolve().parent.parent / "corpus"
    files, _ = list_course_files(corpus)
    texts += [section.text for path in files for section in load_document(path, corpus, CourseSite()).sections]
    expected = [len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]) for text in texts]
    embedder.encode(["drift " * 600])
    assert [embedder.count_tokens(text) for text in texts] == expected
    assert embedder.count_tokens("drift " * 600) > embedder.max_tokens


def test_an_interrupted_cold_ingest_leaves_no_generation_folder(settings, embedder):
    """The new generation's collection is created while the model encodes; an embedding interrupted then (a crash,
    Ctrl-C) must leave nothing of it behind, and the next ingest builds the index."""
    from ingest.pipeline import ingest_corpus

    class InterruptedEmbedder:
        name, max_tokens = embedder.name, embedder.max_tokens
        count_tokens = staticmethod(embedder.count_tokens)

        def encode(self, texts, **options):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_corpus(settings, InterruptedEmbedder)
    assert read_manifest(settings.db_dir) is None
    assert list(settings.db_dir.glob("gen-*")) == []
    report = ingest_corpus(settings, lambda: embedder)
    assert report.published and [p.name for p in settings.db_dir.glob("gen-*")] == [report.generation]
