"""Word documents (python-docx): Title and Heading styles give the sections; paragraphs, lists and tables are kept in order."""
from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.markup import HeadingPath, MarkdownBlock, Section, Slugger, indent_style, markdown_table
from ingest.errors import BadFileError

_HEADING_STYLE = re.compile(r"^Heading ([1-9])$")


@dataclass(frozen=True)
class Block:
    kind: str  # "heading", "para", "item" or "table"
    text: str = ""
    level: int = 0  # heading level (1 = title) or list indent
    rows: tuple[tuple[str, ...], ...] = ()
    anchor: str | None = None  # a heading's id, by the one slug rule


@dataclass(frozen=True)
class WordDocument:
    title: str | None  # the document's Title property
    blocks: tuple[Block, ...]


def _clean(text: str) -> str:
    return " ".join(text.split())


def _style_name(paragraph) -> str:
    # Each `.style` walks the document's styles part (~1 ms a paragraph), so a paragraph's is looked up once.
    style = paragraph.style
    return style.name if style is not None else ""


def _is_list_item(paragraph, style: str) -> bool:
    ppr = paragraph._p.pPr
    return style.startswith("List") or (ppr is not None and ppr.numPr is not None)


def read_word(path: Path) -> WordDocument:
    """The blocks of a .docx file in reading order; BadFileError when python-docx cannot open it or it has no text."""
    import docx
    from docx.opc.exceptions import OpcError
    from docx.table import Table

    try:
        document = docx.Document(str(path))
        content = list(document.iter_inner_content())
        doc_title = _clean(document.core_properties.title or "")
    except (OpcError, zipfile.BadZipFile, KeyError, ValueError, AttributeError, TypeError) as err:
        raise BadFileError(
            f"is not a readable Word document ({type(err).__name__}: {err}); re-save it from Word or Writer as .docx"
        ) from None
    styled = [(part, "" if isinstance(part, Table) else _style_name(part)) for part in content]
    shift = 1 if any(style == "Title" for _, style in styled) else 0  # under a Title paragraph, Heading 1 is a level below it
    slugger = Slugger()
    blocks: list[Block] = []
    for part, style in styled:
        if isinstance(part, Table):
            rows = tuple(tuple(_clean(cell.text) for cell in row.cells) for row in part.rows)
            if any(any(row) for row in rows):
                blocks.append(Block("table", rows=rows))
            continue
        text = _clean(part.text)
        if not text:
            continue
        heading = _HEADING_STYLE.match(style)
        if style == "Title" or heading:
            level = 1 if heading is None else int(heading.group(1)) + shift
            blocks.append(Block("heading", text, level, anchor=slugger.slug(text)))
        elif _is_list_item(part, style):
            ppr: Any = part._p.pPr  # python-docx's oxml types do not declare numPr's children
            indent = int(ppr.numPr.ilvl.val) if ppr is not None and ppr.numPr is not None and ppr.numPr.ilvl is not None else 0
            blocks.append(Block("item", text, indent))
        else:
            blocks.append(Block("para", text))
    if not any(b.kind != "heading" for b in blocks):
        raise BadFileError("has no text to index (an empty document, or only pictures or headings); add the text or a Markdown version")
    return WordDocument(doc_title or None, tuple(blocks))


def word_sections(document: WordDocument) -> tuple[str | None, list[Section]]:
    """The first title or top heading, and the text under each heading path (lists one item a line, tables as rows)."""
    path = HeadingPath()
    parts: list[str] = []
    sections: list[Section] = []

    def close() -> None:
        if parts:
            sections.append(Section(path.headings(), path.anchor, "\n\n".join(parts)))
            parts.clear()

    for block in document.blocks:
        if block.kind == "heading":
            close()
            path.enter(MarkdownBlock(block.level, block.text, block.anchor))
        elif block.kind == "item":
            line = f"{'  ' * block.level}- {block.text}"
            if parts and parts[-1].lstrip().startswith("- "):
                parts[-1] += "\n" + line  # one list, one item a line
            else:
                parts.append(line)
        elif block.kind == "table":
            parts.append(markdown_table(block.rows))
        else:
            parts.append(block.text)
    close()
    return document.title or path.title, sections


def render_word(document: WordDocument) -> str:
    """Lesson HTML with the heading ids the sections were given."""
    out: list[str] = []
    items: list[str] = []

    def close_list() -> None:
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items.clear()

    for block in document.blocks:
        if block.kind == "item":
            items.append(f'<li{indent_style(block.level)}>{html.escape(block.text)}</li>')
            continue
        close_list()
        if block.kind == "heading":
            tag = f"h{min(block.level, 6)}"
            out.append(f'<{tag} id="{html.escape(block.anchor or "")}">{html.escape(block.text)}</{tag}>')
        elif block.kind == "table":
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in block.rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            out.append(f"<p>{html.escape(block.text)}</p>")
    close_list()
    return "\n".join(out)
