"""Notebooks, slides, transcripts and Word documents: made with their real libraries, ingested with the real model,
cited by cell, slide or time, and shown in the lesson view at the cited place."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.web.lessons import lesson_page
from core.index import IndexReader
from core.text import split_sentences
from ingest.loaders import load_document

FIXTURE_SOURCES = {"01-telescopes.md", "notes/02-stars.txt", "03-planets.html", "04-galaxies.pdf"}


def stored(settings):
    return IndexReader(settings.db_dir).chunks()


def ids_in(page: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', page))


# ---------------------------------------------------------------- notebooks


def build_notebook(path: Path) -> Path:
    """A real notebook: a title cell, prose, code with a short output, a long output and an error to drop."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    nb.cells = [
        new_markdown_cell("# Comets\n\nA comet is an icy body that releases gas as it nears the Sun."),
        new_markdown_cell("## Orbits\n\nHalley's Comet returns to the inner Solar System every 76 years."),
        new_code_cell(
            "period_years = 76\nprint('next perihelion', 1986 + period_years)",
            outputs=[new_output("stream", name="stdout", text="next perihelion 2062\n")],
        ),
        new_code_cell(
            "for year in range(400):\n    print(year)",
            outputs=[new_output("stream", name="stdout", text="".join(f"{y}\n" for y in range(400)))],
        ),
        new_code_cell("1 / 0", outputs=[new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]),
        new_markdown_cell("## Tails\n\nThe ion tail of a comet always points away from the Sun, pushed by the solar wind."),
    ]
    nbformat.write(nb, str(path))
    return path


def test_notebook_cells_become_cited_sections(tmp_path):
    doc = load_document(build_notebook(tmp_path / "comets.ipynb"), tmp_path)

    assert doc.title == "Comets" and doc.format == "notebook"
    by_label = {s.label: s for s in doc.sections}
    assert list(by_label) == ["cell 1", "cell 2", "cell 3", "cell 4", "cell 5", "cell 6"]
    assert by_label["cell 2"].headings == ("Comets", "Orbits") and by_label["cell 2"].anchor == "cell-2"
    code = by_label["cell 3"]
    assert code.headings == ("Comets", "Orbits")
    assert code.text == "```python\nperiod_years = 76\nprint('next perihelion', 1986 + period_years)\n```\n\n```text\nnext perihelion 2062\n```"
    assert "399" not in by_label["cell 4"].text, "long outputs are dropped"
    assert "ZeroDivisionError" not in by_label["cell 5"].text, "error outputs are dropped"
    assert split_sentences(code.text) == [], "code and its output are never quoted as prose sentences"
    assert by_label["cell 6"].headings == ("Comets", "Tails")


def test_notebook_ingests_with_cell_citations_and_opens_at_the_cell(course, settings, run_ingest):
    build_notebook(course / "05-comets.ipynb")
    report = run_ingest(settings)

    assert report.problems == []
    chunks = [c for c in stored(settings) if c.source == "05-comets.ipynb"]
    tail = next(c for c in chunks if "ion tail" in c.text)
    assert (tail.section, tail.anchor, tail.label) == ("Comets > Tails", "cell-6", "cell 6")
    assert tail.location() == "Comets > Tails > cell 6"
    assert tail.link() == "/course/05-comets.ipynb#cell-6"
    code = next(c for c in chunks if "period_years" in c.text)
    assert code.label == "cell 3" and code.text.startswith("```python\n")

    page = lesson_page(course / "05-comets.ipynb", "05-comets.ipynb", tail.title)
    assert {c.anchor for c in chunks} <= ids_in(page)
    cell = re.search(r'<section class="cell cell-code" id="cell-3" data-cite>(.*?)</section>', page, re.S)
    assert cell, "each code cell is a section with its cell id"
    assert '<pre class="code"><code class="language-python">' in cell.group(1)
    assert '<span class="n">period_years</span>' in cell.group(1), "code is highlighted by Pygments"
    assert '<pre class="output">next perihelion 2062</pre>' in cell.group(1)
    assert '<h2 id="tails">Tails</h2>' in page


def test_notebook_that_is_not_json_is_one_line_and_the_rest_ingests(course, settings, run_ingest):
    (course / "broken.ipynb").write_text('{"cells": [ this is not json')
    report = run_ingest(settings)

    assert [p.message() for p in report.problems] == [
        "broken.ipynb: is not a Jupyter notebook (its text is not JSON); re-save it from Jupyter or remove it"
    ]
    assert {c.source for c in stored(settings)} == FIXTURE_SOURCES


def test_notebook_cell_headings_never_take_a_cell_id(tmp_path):
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook

    nb = new_notebook()
    nb.cells = [new_markdown_cell("# Cell 2\n\nA heading that slugs like a cell id."), new_markdown_cell("Second cell text.")]
    nbformat.write(nb, str(tmp_path / "n.ipynb"))
    page = lesson_page(tmp_path / "n.ipynb", "n.ipynb", "Cell 2")
    assert '<section class="cell cell-markdown" id="cell-2" data-cite>' in page
    assert '<h1 id="cell-2-1">Cell 2</h1>' in page


# ---------------------------------------------------------------- slides


def build_deck(path: Path) -> Path:
    """A real deck: a title slide, a bullet slide with notes, a table slide, and a picture-only slide."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Meteors"
    title = deck.slides.add_slide(deck.slide_layouts[0])
    title.shapes.title.text = "Meteors"
    title.placeholders[1].text = "Shooting stars explained"

    bullets = deck.slides.add_slide(deck.slide_layouts[1])
    bullets.shapes.title.text = "Meteor showers"
    body = bullets.placeholders[1].text_frame
    body.text = "A meteor shower happens when Earth crosses the debris trail of a comet."
    sub = body.add_paragraph()
    sub.text = "The Perseids peak every August."
    sub.level = 1
    bullets.notes_slide.notes_text_frame.text = "Ask who has seen the Perseids from a dark site."

    table_slide = deck.slides.add_slide(deck.slide_layouts[5])
    table_slide.shapes.title.text = "Famous showers"
    table = table_slide.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for r, row in enumerate([("Shower", "Peak"), ("Perseids", "August"), ("Geminids", "December")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text

    deck.slides.add_slide(deck.slide_layouts[6])  # blank: nothing to cite
    deck.save(str(path))
    return path


def test_each_slide_is_a_section_with_its_notes_and_tables(tmp_path):
    doc = load_document(build_deck(tmp_path / "meteors.pptx"), tmp_path)

    assert doc.title == "Meteors" and doc.format == "slides"
    assert [(s.label, s.headings, s.anchor) for s in doc.sections] == [
        ("slide 1", ("Meteors",), "slide-1"),
        ("slide 2", ("Meteors", "Meteor showers"), "slide-2"),
        ("slide 3", ("Meteors", "Famous showers"), "slide-3"),
    ]
    assert doc.sections[1].text == (
        "- A meteor shower happens when Earth crosses the debris trail of a comet.\n"
        "  - The Perseids peak every August.\n\n"
        "Speaker notes: Ask who has seen the Perseids from a dark site."
    )
    assert doc.sections[2].text == "| Shower | Peak |\n| --- | --- |\n| Perseids | August |\n| Geminids | December |"


def test_slides_ingest_cited_as_slide_n_and_the_lesson_view_shows_them_in_order(course, settings, run_ingest):
    build_deck(course / "06-meteors.pptx")
    report = run_ingest(settings)

    assert report.problems == []
    chunks = [c for c in stored(settings) if c.source == "06-meteors.pptx"]
    showers = next(c for c in chunks if "debris trail" in c.text)
    assert showers.location() == "Meteors > Meteor showers > slide 2"
    assert showers.link() == "/course/06-meteors.pptx#slide-2"

    page = lesson_page(course / "06-meteors.pptx", "06-meteors.pptx", "Meteors")
    assert re.findall(r'<section class="slide" id="(slide-\d+)" data-cite>', page) == ["slide-1", "slide-2", "slide-3", "slide-4"]
    assert {c.anchor for c in chunks} <= ids_in(page)
    assert '<li style="margin-left: 1.5rem">The Perseids peak every August.</li>' in page
    assert "<th>Shower</th>" in page and "<td>Geminids</td>" in page
    assert '<aside class="notes"><strong>Speaker notes</strong><p>Ask who has seen the Perseids from a dark site.</p></aside>' in page


def _zip_of_text(course: Path) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "Not a presentation, just a zipped note.")
    return buffer.getvalue()


def _word_file(course: Path) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("A Word document renamed to .pptx.")
    document.save(str(course / "tmp.docx"))
    data = (course / "tmp.docx").read_bytes()
    (course / "tmp.docx").unlink()
    return data


def _picture_only_deck(course: Path) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[6])
    deck.save(str(course / "tmp.pptx"))
    data = (course / "tmp.pptx").read_bytes()
    (course / "tmp.pptx").unlink()
    return data


BAD_DECKS = {
    "renamed-zip": (_zip_of_text, "is not a readable PowerPoint deck (KeyError"),
    "renamed-docx": (_word_file, "is not a readable PowerPoint deck (ValueError"),
    "no-text": (_picture_only_deck, "has no text on its slides"),
    "empty": (lambda course: b"", "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(BAD_DECKS))
def test_bad_deck_is_one_line_and_the_rest_ingests(case, course, settings, run_ingest):
    make, reason = BAD_DECKS[case]
    (course / "deck.pptx").write_bytes(make(course))
    report = run_ingest(settings)

    assert [p.source for p in report.problems] == ["deck.pptx"]
    message = report.problems[0].message()
    assert message.startswith("deck.pptx: " + reason) and "\n" not in message
    assert "re-save" in message or "add" in message
    assert {c.source for c in stored(settings)} == FIXTURE_SOURCES


# ---------------------------------------------------------------- transcripts

AURORA_VTT = """WEBVTT

00:00:01.000 --> 00:00:05.000
Welcome back. Today we talk about auroras.

00:00:05.000 --> 00:00:09.500
<v Lecturer>They are lights in the sky near the poles.</v>

00:12:34.200 --> 00:12:39.000
An aurora appears when charged particles from the solar wind

00:12:39.000 --> 00:12:44.000
hit oxygen and nitrogen high in the atmosphere. Oxygen glows green.
The colours depend on the gas. That is the key idea.
"""

AURORA_SRT = """1
00:00:02,000 --> 00:00:06,000
Auroras are brightest after a solar storm.

2
01:02:03,500 --> 01:02:08,000
The aurora australis is the southern twin of the northern lights.
"""


def test_transcript_cues_become_timed_passages(tmp_path):
    (tmp_path / "lecture-07-auroras.vtt").write_text(AURORA_VTT)
    doc = load_document(tmp_path / "lecture-07-auroras.vtt", tmp_path)

    assert doc.title == "Lecture 07 auroras" and doc.format == "transcript"
    assert [(s.label, s.anchor, s.url) for s in doc.sections] == [("at 0:01", "t-1", None), ("at 12:34", "t-754", None)]
    assert doc.sections[0].text == "Welcome back. Today we talk about auroras. They are lights in the sky near the poles."
    assert doc.sections[1].text.startswith("An aurora appears when charged particles from the solar wind hit oxygen")

    (tmp_path / "lecture-08.srt").write_text(AURORA_SRT)
    doc = load_document(tmp_path / "lecture-08.srt", tmp_path)
    # An hour's pause between the two cues starts a new passage, though the first holds only one sentence.
    assert [(s.label, s.anchor) for s in doc.sections] == [("at 0:02", "t-2"), ("at 1:02:03", "t-3723")]
    assert doc.sections[1].text == "The aurora australis is the southern twin of the northern lights."


@pytest.mark.parametrize(
    "video, expected",
    [
        ("https://www.youtube.com/watch?v=abc123", "https://www.youtube.com/watch?v=abc123&t=754s"),
        ("https://youtu.be/abc123", "https://youtu.be/abc123?t=754"),
        ("https://www.youtube.com/watch?v=abc123&t=5s", "https://www.youtube.com/watch?v=abc123&t=754s"),
        ("https://www.youtube.com/embed/abc123", "https://www.youtube.com/embed/abc123?start=754"),
        ("https://media.example.edu/lectures/07.mp4", "https://media.example.edu/lectures/07.mp4#t=754"),
    ],
)
def test_video_link_starts_at_the_cue(video, expected):
    from ingest.transcripts import video_at

    assert video_at(video, 754) == expected


def test_transcript_with_video_sidecar_cites_the_video_at_the_time(course, settings, run_ingest):
    (course / "07-auroras.vtt").write_text(AURORA_VTT)
    (course / "07-auroras.yaml").write_text("title: Lecture 7 - Auroras\nvideo: https://www.youtube.com/watch?v=aur0ra\n")
    report = run_ingest(settings)

    assert report.problems == [] and report.skipped == ["images/diagram.png"], "the sidecar is not a lesson, nor skipped"
    chunk = next(c for c in stored(settings) if "charged particles" in c.text)
    assert chunk.location() == "Lecture 7 - Auroras at 12:34"
    assert chunk.link() == chunk.href("http://guide") == "https://www.youtube.com/watch?v=aur0ra&t=754s"
    page = lesson_page(course / "07-auroras.vtt", "07-auroras.vtt", chunk.title)
    assert '<section class="cue" id="t-754" data-cite><span class="cue-time"><a href="https://www.youtube.com/watch?v=aur0ra&amp;t=754s">12:34</a></span>' in page

    # Editing only the sidecar re-ingests the transcript: the new video is cited.
    (course / "07-auroras.yaml").write_text("video: https://media.example.edu/auroras.mp4\n")
    run_ingest(settings)
    chunk = next(c for c in stored(settings) if "charged particles" in c.text)
    assert chunk.link() == "https://media.example.edu/auroras.mp4#t=754"
    assert chunk.title == "Auroras"


def test_transcript_without_video_opens_the_transcript_at_the_cue(course, settings, run_ingest):
    (course / "07-auroras.vtt").write_text(AURORA_VTT)
    run_ingest(settings)
    chunk = next(c for c in stored(settings) if "charged particles" in c.text)
    assert chunk.link() == "/course/07-auroras.vtt#t-754" and chunk.url is None
    page = lesson_page(course / "07-auroras.vtt", "07-auroras.vtt", chunk.title)
    assert '<section class="cue" id="t-754" data-cite><span class="cue-time">12:34</span>' in page


BAD_TRANSCRIPTS = {
    "vtt-broken-timestamp": ("lecture.vtt", AURORA_VTT.replace("00:12:34.200", "00:12:3x.200"), "has a broken cue timestamp"),
    "vtt-no-header": ("lecture.vtt", AURORA_VTT.replace("WEBVTT\n", ""), "is not a WebVTT transcript"),
    "vtt-ends-before-start": ("lecture.vtt", AURORA_VTT.replace("00:00:05.000 --> 00:00:09.500", "00:00:09.500 --> 00:00:05.000"),
                              "has a cue that ends before it starts (0:09 to 0:05)"),
    "srt-broken-timestamp": ("lecture.srt", AURORA_SRT.replace("01:02:03,500", "01:02:o3,500"), "has a broken cue timestamp ('01:02:o3,500"),
    "srt-garbage": ("lecture.srt", "this is not a transcript\n", "is not a readable SubRip transcript"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRANSCRIPTS))
def test_bad_transcript_is_one_line_and_the_rest_ingests(case, course, settings, run_ingest):
    name, text, reason = BAD_TRANSCRIPTS[case]
    (course / name).write_text(text)
    report = run_ingest(settings)

    assert [p.source for p in report.problems] == [name]
    message = report.problems[0].message()
    assert message.startswith(f"{name}: {reason}") and "\n" not in message
    assert {c.source for c in stored(settings)} == FIXTURE_SOURCES


def test_bad_sidecar_is_one_line_naming_it(course, settings, run_ingest):
    (course / "lecture.vtt").write_text(AURORA_VTT)
    (course / "lecture.yaml").write_text("video: [unclosed\n")
    report = run_ingest(settings)
    assert [p.source for p in report.problems] == ["lecture.vtt"]
    assert report.problems[0].reason.startswith("has a sidecar lecture.yaml that is not valid YAML (")
    assert report.problems[0].reason.endswith("; fix it or remove it") and "\n" not in report.problems[0].reason


# ---------------------------------------------------------------- Word documents


def build_word(path: Path) -> Path:
    """A real .docx: a title, headings, prose, a bulleted list and a table."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Eclipses"
    document.add_paragraph("Eclipses", style="Title")
    document.add_heading("Solar eclipses", level=1)
    document.add_paragraph("A solar eclipse happens when the Moon passes between the Sun and Earth.")
    document.add_paragraph("Never look at the Sun without eclipse glasses.", style="List Bullet")
    document.add_paragraph("A pinhole projector is a safe way to watch.", style="List Bullet")
    document.add_heading("Kinds", level=2)
    table = document.add_table(rows=3, cols=2)
    for r, row in enumerate([("Kind", "What is seen"), ("Total", "The corona"), ("Annular", "A ring of fire")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    document.add_heading("Lunar eclipses", level=1)
    document.add_paragraph("A lunar eclipse turns the Moon red as Earth's shadow covers it.")
    document.save(str(path))
    return path


def test_word_headings_give_sections_and_lists_and_tables_are_kept(tmp_path):
    doc = load_document(build_word(tmp_path / "eclipses.docx"), tmp_path)

    assert doc.title == "Eclipses" and doc.format == "word"
    assert [(s.headings, s.anchor) for s in doc.sections] == [
        (("Eclipses", "Solar eclipses"), "solar-eclipses"),
        (("Eclipses", "Solar eclipses", "Kinds"), "kinds"),
        (("Eclipses", "Lunar eclipses"), "lunar-eclipses"),
    ]
    assert doc.sections[0].text == (
        "A solar eclipse happens when the Moon passes between the Sun and Earth.\n\n"
        "- Never look at the Sun without eclipse glasses.\n- A pinhole projector is a safe way to watch."
    )
    assert doc.sections[1].text == "| Kind | What is seen |\n| --- | --- |\n| Total | The corona |\n| Annular | A ring of fire |"
    assert [s.text for s in split_sentences(doc.sections[0].text)][1:] == [
        "Never look at the Sun without eclipse glasses.", "A pinhole projector is a safe way to watch."]


def test_word_document_ingests_and_opens_at_its_heading(course, settings, run_ingest):
    build_word(course / "08-eclipses.docx")
    report = run_ingest(settings)

    assert report.problems == []
    chunks = [c for c in stored(settings) if c.source == "08-eclipses.docx"]
    lunar = next(c for c in chunks if "Moon red" in c.text)
    assert lunar.link() == "/course/08-eclipses.docx#lunar-eclipses" and lunar.label is None
    page = lesson_page(course / "08-eclipses.docx", "08-eclipses.docx", "Eclipses")
    assert {c.anchor for c in chunks} <= ids_in(page)
    assert '<h2 id="solar-eclipses">Solar eclipses</h2>' in page and '<h3 id="kinds">Kinds</h3>' in page
    assert '<li>A pinhole projector is a safe way to watch.</li></ul>' in page
    assert "<th>Kind</th>" in page and "<td>A ring of fire</td>" in page


def _docx_without_text(course: Path) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("")
    document.add_heading("Only a heading", level=1)
    document.save(str(course / "tmp.docx"))
    data = (course / "tmp.docx").read_bytes()
    (course / "tmp.docx").unlink()
    return data


BAD_WORD = {
    "no-text": (_docx_without_text, "has no text to index"),
    "renamed-zip": (_zip_of_text, "is not a readable Word document (KeyError"),
    "not-a-zip": (lambda course: b"just some text saved as .docx", "is not a readable Word document"),
}


@pytest.mark.parametrize("case", sorted(BAD_WORD))
def test_bad_word_document_is_one_line_and_the_rest_ingests(case, course, settings, run_ingest):
    make, reason = BAD_WORD[case]
    (course / "handout.docx").write_bytes(make(course))
    report = run_ingest(settings)

    assert [p.source for p in report.problems] == ["handout.docx"]
    message = report.problems[0].message()
    assert message.startswith("handout.docx: " + reason) and "\n" not in message
    assert {c.source for c in stored(settings)} == FIXTURE_SOURCES


# ---------------------------------------------------------------- Markdown front matter

NEBULAE = """---
title: Nebulae and star birth
order: 2
url: https://course.example.edu/astro/nebulae/
video: https://www.youtube.com/watch?v=neb123
tags: [mkdocs-only, ignored]
---
# Nebulae

## Emission nebulae

An emission nebula glows because hot young stars ionise its hydrogen gas.
"""


def test_front_matter_sets_title_order_page_url_and_video(course, settings, run_ingest):
    from app.web.lessons import contents_page
    from core.local_store import read_manifest

    (course / "05-nebulae.md").write_text(NEBULAE)
    (course / "09-intro.md").write_text("---\norder: 1\n---\n# Intro\n\nThe course starts here with the night sky.\n")
    report = run_ingest(settings)

    assert report.problems == []
    chunk = next(c for c in stored(settings) if c.source == "05-nebulae.md")
    assert chunk.title == "Nebulae and star birth" and chunk.section == "Nebulae > Emission nebulae"
    assert "order:" not in chunk.text and "youtube" not in chunk.text, "front matter is not lesson text"
    assert chunk.link() == chunk.href("http://guide") == "https://course.example.edu/astro/nebulae/#emission-nebulae"

    contents = contents_page(read_manifest(settings.db_dir).files)
    listed = re.findall(r'<li><a href="/course/([^"]+)">', contents)
    assert listed[:2] == ["09-intro.md", "05-nebulae.md"], "front-matter order comes first"
    assert listed[2:] == sorted(FIXTURE_SOURCES)

    page = lesson_page(course / "05-nebulae.md", "05-nebulae.md", chunk.title)
    assert '<h1 id="nebulae">Nebulae</h1>\n<p class="video"><a href="https://www.youtube.com/watch?v=neb123">Watch the lecture video</a></p>' in page
    assert "order: 2" not in page and '<h2 id="emission-nebulae">' in page


BAD_FRONT_MATTER = {
    "not-yaml": ("---\ntitle: [unclosed\n---\n# A\n\nText.\n", "has front matter that is not valid YAML ("),
    "order-not-a-number": ("---\norder: second\n---\n# A\n\nText.\n", "has front matter 'order: second', which is not a whole number"),
    "url-not-a-url": ("---\nurl: nebulae.html\n---\n# A\n\nText.\n", "has front matter 'url: nebulae.html', which is not an http(s) URL"),
}


@pytest.mark.parametrize("case", sorted(BAD_FRONT_MATTER))
def test_bad_front_matter_is_one_line_for_that_file(case, course, settings, run_ingest):
    text, reason = BAD_FRONT_MATTER[case]
    (course / "05-bad.md").write_text(text)
    report = run_ingest(settings)

    assert [p.source for p in report.problems] == ["05-bad.md"]
    message = report.problems[0].message()
    assert message.startswith("05-bad.md: " + reason) and "\n" not in message
    assert {c.source for c in stored(settings)} == FIXTURE_SOURCES


# ---------------------------------------------------------------- citations that open the course site

TRICKY_HEADINGS = """# Course notes

## What is MLOps?

One.

## What is MLOps?

Two, a repeated heading.

## Über Lernraten

Three.

## Data drift: P(X) vs P(y|X)

Four.

## CI/CD for ML -- the basics

Five.
"""


def test_mkdocs_heading_ids_match_python_markdowns_toc_extension():
    import markdown

    from core.markup import TocSlugger, markdown_sections

    rendered = markdown.markdown(TRICKY_HEADINGS, extensions=["toc"])
    toc_ids = re.findall(r'<h2 id="([^"]+)"', rendered)
    _, sections = markdown_sections(TRICKY_HEADINGS, TocSlugger())
    assert [s.anchor for s in sections] == toc_ids == [
        "what-is-mlops", "what-is-mlops_1", "uber-lernraten", "data-drift-px-vs-pyx", "cicd-for-ml-the-basics"]
    _, ours = markdown_sections(TRICKY_HEADINGS)
    assert [s.anchor for s in ours][:3] == ["what-is-mlops", "what-is-mlops-1", "über-lernraten"], "the guide's own view keeps GitHub ids"


@pytest.mark.parametrize(
    "style, telescopes, nested",
    [
        ("mkdocs", "https://course.example.edu/astro/01-telescopes/#lens-design", "https://course.example.edu/astro/notes/#notes"),
        ("github", "https://github.com/uni/astro/blob/main/docs/01-telescopes.md#lens-design", None),
    ],
)
def test_course_site_setting_links_markdown_citations_to_the_site(style, telescopes, nested, course, settings, run_ingest):
    from core.settings import Settings

    base = "https://course.example.edu/astro/" if style == "mkdocs" else "https://github.com/uni/astro/blob/main/docs"
    (course / "notes" / "index.md").write_text("# Notes\n\nThe notes folder holds extra reading about the sky.\n")
    site = Settings(corpus_dir=course, db_dir=settings.db_dir, course_site_url=base, course_site_style=style)
    run_ingest(site)
    chunks = stored(site)

    lens = next(c for c in chunks if c.anchor == "lens-design")
    assert lens.link() == lens.href("http://guide") == telescopes
    if nested:
        assert next(c for c in chunks if c.source == "notes/index.md").link() == nested, "index.md is its folder's page"
    others = [c for c in chunks if not c.source.endswith(".md")]
    assert others and all(c.url is None and c.link().startswith("/course/") for c in others), "only Markdown lessons are on the site"

    # Unsetting the site rebuilds the citations: they open the guide's lesson view again.
    run_ingest(settings)
    assert next(c for c in stored(settings) if c.anchor == "lens-design").link() == "/course/01-telescopes.md#lens-design"


def test_course_site_url_must_be_a_url():
    from pydantic import ValidationError

    from core.settings import Settings

    with pytest.raises(ValidationError, match="is not an http\\(s\\) URL; write it as e.g. https://course.example.edu/mlops/"):
        Settings(course_site_url="course.example.edu")
