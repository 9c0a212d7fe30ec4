"""Property-based tests (Hypothesis) over the loaders and the chunker: no input crashes them, every chunk fits the model."""
from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.markup import html_to_markdown, markdown_sections, plaintext_sections, render_markdown, render_plaintext
from ingest.chunker import ChunkTooLongError, chunk_document
from ingest.loaders import FORMATS, BadFileError, Document, decode_text, load_document

# Few examples each, derandomized: the suite stays fast and a failure reproduces on every run.
FAST = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text that looks like course files: Markdown and HTML syntax, odd Unicode, control characters.
MARKUP_BITS = ["# ", "## ", "\n", "\n\n", "- ", "1. ", "```", "`", "*", "_", "[", "](", ")", "<", ">", "</", "<img src=x onerror=alert(1)>",
               "<script>", "<h2>", "</h2>", "<p>", "&amp;", "&#0;", "|", "---", "===", "> ", "\t", "\r\n", "\u200b", "\ufeff",
               "é", "日本", "🙂", "\u202e", "\x0b", "\x1f", "word ", "lens ", "A sentence. "]
course_text = st.lists(st.one_of(st.sampled_from(MARKUP_BITS), st.text(min_size=1, max_size=30)), max_size=60).map("".join)


@FAST
@given(data=st.binary(max_size=2000))
def test_decode_text_takes_any_bytes_and_never_returns_a_nul(data):
    try:
        text = decode_text(data)
    except BadFileError as err:
        assert str(err)
        return
    assert "\x00" not in text and text.strip()


@FAST
@given(text=course_text)
def test_markdown_and_text_parsers_take_any_text(text):
    for title, sections in (markdown_sections(text), plaintext_sections(text), markdown_sections(html_to_markdown(text))):
        assert title is None or isinstance(title, str)
        assert all(section.text.strip() for section in sections)
    assert isinstance(render_markdown(text), str) and isinstance(render_plaintext(text), str)
    assert "<script" not in render_markdown(text).lower() and "onerror" not in render_markdown(text)


@FAST
@given(data=st.one_of(st.binary(max_size=1500), course_text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from(sorted(FORMATS)))
def test_load_document_on_any_file_gives_a_document_or_a_bad_file_error(tmp_path_factory, data, suffix):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / f"lesson{suffix}"
    path.write_bytes(data)
    try:
        document = load_document(path, folder)
    except BadFileError as err:
        assert str(err)
        return
    assert isinstance(document, Document) and document.sections and document.title


@pytest.fixture(scope="module")
def fuzz_embedder(embedder):
    return embedder


@SLOW
@given(text=st.lists(st.one_of(st.sampled_from(MARKUP_BITS), st.text(string.ascii_letters + " .,;\n", min_size=1, max_size=400),
                               st.text(min_size=1, max_size=200)), min_size=1, max_size=40).map("".join),
       chunk_tokens=st.integers(32, 250), overlap=st.integers(0, 100))
def test_every_chunk_fits_the_models_window(fuzz_embedder, text, chunk_tokens, overlap):
    title, sections = markdown_sections(text)
    if not sections:
        return
    document = Document("lesson.md", title or "Lesson", "markdown", sections)
    try:
        chunks = chunk_document(document, "sha", fuzz_embedder, chunk_tokens, overlap)
    except ChunkTooLongError as err:  # a heading longer than the window: reported, by design
        assert "shorten its heading" in str(err)
        return
    assert chunks and [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        assert chunk.text.strip()
        assert fuzz_embedder.count_tokens(chunk.embed_text()) <= fuzz_embedder.max_tokens, chunk.section
