"""Notebooks, slides, transcripts and Word documents: made with their real libraries, ingested with the real model,
cited by cell, slide or time, and shown in the lesson view at the cited place."""
from __future__ import annotations

import re
from pathlib import Path


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
