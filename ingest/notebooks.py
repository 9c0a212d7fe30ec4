"""Jupyter notebooks (nbformat): Markdown cells give the sections, code cells stay code, and the lesson view shows every cell."""
from __future__ import annotations

import html
from dataclasses import dataclass

from core.markup import HeadingPath, Section, Slugger, markdown_blocks, render_markdown
from ingest.errors import BadFileError

# Outputs are dropped, except short text ones ("accuracy: 0.93"): tables of numbers and tracebacks are not lesson text.
MAX_OUTPUT_CHARS = 500
MAX_OUTPUT_LINES = 10


@dataclass(frozen=True)
class Cell:
    number: int  # 1-based position in the notebook, as a learner counts cells
    kind: str  # "markdown", "code" or "raw"
    source: str
    outputs: tuple[str, ...] = ()  # the short text outputs kept

    @property
    def anchor(self) -> str:
        return f"cell-{self.number}"

    @property
    def label(self) -> str:
        return f"cell {self.number}"


@dataclass(frozen=True)
class Notebook:
    title: str | None  # the notebook's metadata title, if it has one
    language: str  # the kernel's language, for fences and highlighting
    cells: tuple[Cell, ...]


def _text_outputs(outputs: list) -> tuple[str, ...]:
    kept: list[str] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
        elif kind in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain", "")
        else:
            continue  # errors and anything else
        text = ("".join(text) if isinstance(text, list) else str(text)).strip("\n")
        if text.strip() and len(text) <= MAX_OUTPUT_CHARS and len(text.splitlines()) <= MAX_OUTPUT_LINES:
            kept.append(text)
    return tuple(kept)


def read_notebook(text: str) -> Notebook:
    """The cells of a notebook file's text; BadFileError when it is not a notebook nbformat can read."""
    import nbformat
    from nbformat.reader import NotJSONError

    try:
        nb = nbformat.reads(text, as_version=4)
    except NotJSONError:
        raise BadFileError("is not a Jupyter notebook (its text is not JSON); re-save it from Jupyter or remove it") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise BadFileError(f"is not a readable Jupyter notebook ({type(err).__name__}: {err}); re-save it from Jupyter") from None
    if not isinstance(nb.get("cells"), list):
        raise BadFileError("is not a readable Jupyter notebook (it has no list of cells); re-save it from Jupyter")
    language = str(nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get("language_info", {}).get("name") or "python")
    cells: list[Cell] = []
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        kind = str(cell.get("cell_type", "raw"))
        outputs = _text_outputs(cell.get("outputs", [])) if kind == "code" else ()
        cells.append(Cell(number, kind, source, outputs))
    title = nb.metadata.get("title")
    return Notebook(str(title).strip() if title else None, language, tuple(cells))


def _fence(text: str, info: str = "") -> str:
    """A fenced block that the text itself cannot close."""
    fence = "~~~" if "```" in text else "```"
    return f"{fence}{info}\n{text}\n{fence}"


def _slugger(notebook: Notebook) -> Slugger:
    """Heading ids for the whole notebook, never equal to a cell's id."""
    slugger = Slugger()
    for cell in notebook.cells:
        slugger.reserve(cell.anchor)
    return slugger


def notebook_sections(notebook: Notebook) -> tuple[str | None, list[Section]]:
    """The first H1 and one section per cell part: each cites its cell ("cell 4") and opens at it."""
    path = HeadingPath()
    slugger = _slugger(notebook)
    sections: list[Section] = []
    for cell in notebook.cells:
        if cell.kind == "markdown":
            body: list[str] = []
            for block in markdown_blocks(cell.source, slugger):
                if block.level:
                    if body:
                        sections.append(Section(path.headings(), cell.anchor, "\n\n".join(body), label=cell.label))
                        body = []
                    path.enter(block)
                else:
                    body.append(block.text)
            if body:
                sections.append(Section(path.headings(), cell.anchor, "\n\n".join(body), label=cell.label))
        elif cell.kind == "code" and cell.source.strip():
            parts = [_fence(cell.source.strip("\n"), notebook.language)] + [_fence(out, "text") for out in cell.outputs]
            sections.append(Section(path.headings(), cell.anchor, "\n\n".join(parts), label=cell.label))
    return notebook.title or path.title, sections


def _highlight(code: str, language: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


def highlight_css() -> str:
    """Pygments' colours for the highlighted code in the lesson view."""
    from pygments.formatters import HtmlFormatter

    # The style paints the code box light; its plain text must stay dark when the page is in dark mode.
    return HtmlFormatter(style="friendly").get_style_defs(".code") + "\npre.code { color: #1f2937; }"


def render_notebook(notebook: Notebook) -> str:
    """Lesson HTML: every cell in order with the id its citations use; code highlighted, short outputs below it."""
    slugger = _slugger(notebook)
    out: list[str] = []
    for cell in notebook.cells:
        if cell.kind == "markdown":
            inner = render_markdown(cell.source, slugger)
        elif cell.kind == "code":
            inner = f'<pre class="code"><code class="language-{html.escape(notebook.language)}">{_highlight(cell.source, notebook.language)}</code></pre>'
            inner += "".join(f'<pre class="output">{html.escape(text)}</pre>' for text in cell.outputs)
        else:
            inner = f"<pre>{html.escape(cell.source)}</pre>"
        if not cell.source.strip():
            continue
        out.append(
            f'<section class="cell cell-{html.escape(cell.kind)}" id="{cell.anchor}" data-cite>'
            f'<span class="cell-number">{cell.label}</span>{inner}</section>'
        )
    return "\n".join(out)
