"""HTML blocks in Markdown lessons: their text is kept (as Markdown) for ingest and the lesson view, their furniture is not."""
from __future__ import annotations

import pytest

from app.engine.answer import answer_question
from app.engine.guide import open_guide
from core.markup import html_to_markdown, markdown_sections, render_markdown
from core.settings import Settings
from ingest.notebooks import notebook_sections, read_notebook

# In the style of microsoft/Data-Science-For-Beginners lesson 01: a definition list written as raw HTML,
# with Markdown inside it and a nested HTML list.
DL_LESSON = """# Defining Data Science

## Related fields

Data science touches many other disciplines.

<dl>
<dt>Databases</dt>
<dd>
The first thing to consider is **how to store** the data so that it can be processed fast.
</dd>
<dt>Big Data</dt>
<dd>
Big data is stored and processed in a distributed manner on a computer cluster.
<ul>
<li>A data lake keeps large collections of raw data.</li>
<li><a href="https://en.wikipedia.org/wiki/NoSQL">NoSQL</a> stores do not enforce a schema.</li>
</ul>
</dd>
</dl>

## Next steps

Read on.
"""


def _section(text: str, heading: str) -> str:
    _, sections = markdown_sections(text)
    return next(s.text for s in sections if s.headings[-1] == heading)


def test_a_definition_list_in_html_is_kept_as_term_definitions():
    body = _section(DL_LESSON, "Related fields")
    assert "**Databases**: The first thing to consider is **how to store** the data" in body
    assert "**Big Data**: Big data is stored and processed in a distributed manner" in body
    assert "* A data lake keeps large collections of raw data." in body
    assert "[NoSQL](https://en.wikipedia.org/wiki/NoSQL) stores do not enforce a schema." in body
    assert "<" not in body, "raw HTML tags reached the section text"


def test_the_lesson_view_shows_the_html_blocks_text_and_no_raw_html():
    page = render_markdown(DL_LESSON + '\n<div>\n<script>alert("x")</script>\n<p onclick="x()">Clickable</p>\n</div>\n')
    assert "<strong>Databases</strong>: The first thing" in page
    assert "<li>A data lake keeps large collections of raw data.</li>" in page
    assert "<script" not in page and "onclick" not in page and "<dl>" not in page
    assert "Clickable" in page


@pytest.mark.parametrize("block", [
    '<p align="center">\n  <img src="images/banner.png" alt="Banner" width="50%">\n</p>',
    '<a href="https://youtu.be/abc"><img src="images/thumb.png" alt="Video"></a>',
    '<div align="center">\n<img src="x.png">\n</div>',
    "<!-- a comment the author left: add the quiz link here -->",
    '<video controls src="clip.mp4">\nYour browser does not support the video tag.\n</video>',
    '<iframe width="560" src="https://www.youtube.com/embed/x"></iframe>',
    '<div>\n<script>var secret = 1;</script>\n<style>p { color: red }</style>\n</div>',
    "<br>\n<hr/>",
])
def test_an_html_block_of_furniture_adds_no_text(block):
    """Each block, with the input named by its id: none of it may reach a section's text."""
    body = _section(f"# L\n\n## S\n\nKept sentence.\n\n{block}\n\nAfter it.\n", "S")
    assert body == "Kept sentence.\n\nAfter it."


def test_a_heading_inside_html_is_a_section_with_the_same_id_in_the_lesson_view():
    text = "# L\n\nIntro.\n\n<h2>Data Storage</h2>\n\nWhere the data lives.\n\n## Data Storage\n\nAgain.\n"
    _, sections = markdown_sections(text)
    assert [(s.headings, s.anchor) for s in sections] == [
        (("L",), "l"), (("L", "Data Storage"), "data-storage"), (("L", "Data Storage"), "data-storage-1")]
    page = render_markdown(text)
    assert '<h2 id="data-storage">Data Storage</h2>' in page and '<h2 id="data-storage-1">Data Storage</h2>' in page


def test_html_inside_a_list_or_a_code_block_is_left_as_it_was():
    code = "# L\n\n## S\n\n```html\n<dl>\n<dt>Term</dt>\n</dl>\n```\n"
    assert _section(code, "S") == "```html\n<dl>\n<dt>Term</dt>\n</dl>\n```"


def test_a_notebook_markdown_cell_keeps_its_html_definition_list(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Notebook\n\n<dl>\n<dt>Pandas</dt>\n<dd>A library for tables of data.</dd>\n</dl>")]
    path = tmp_path / "n.ipynb"
    nbformat.write(nb, path)
    _, sections = notebook_sections(read_notebook(path.read_text()))
    assert any("**Pandas**: A library for tables of data." in s.text for s in sections)


def test_a_question_on_a_term_defined_in_an_html_list_is_answered_from_it(tmp_path, run_ingest, embedder):
    course = tmp_path / "course"
    course.mkdir()
    (course / "01-defining-data-science.md").write_text(DL_LESSON)
    settings = Settings(corpus_dir=course, db_dir=tmp_path / "index")
    run_ingest(settings)
    answer = answer_question(open_guide(settings, embedder), "What is big data?")
    assert not answer.refused
    assert "distributed manner on a computer cluster" in answer.answer, answer.answer
    assert answer.citations[0].section.endswith("Related fields")


def test_an_html_lessons_definition_list_is_term_definitions_and_its_asterisks_stay_literal():
    converted = html_to_markdown("<h1>Stats</h1><dl><dt>Mean</dt><dd>The sum divided by the count, e.g. 2 * 3.</dd></dl>")
    assert "**Mean**: The sum divided by the count, e.g. 2 \\* 3." in converted
