"""PowerPoint decks (python-pptx): one section per slide with its title, text, tables and speaker notes, cited as "slide 7"."""
from __future__ import annotations

import html
import zipfile
from dataclasses import dataclass
from pathlib import Path

from core.markup import Section, indent_style, markdown_table
from ingest.errors import BadFileError


@dataclass(frozen=True)
class Slide:
    number: int  # 1-based, as the deck shows it
    title: str | None
    bullets: tuple[tuple[int, str], ...]  # (indent level, text) of each paragraph of the slide's text
    tables: tuple[tuple[tuple[str, ...], ...], ...]  # rows of cell texts; the first row is the header
    notes: str  # the speaker notes

    @property
    def anchor(self) -> str:
        return f"slide-{self.number}"

    @property
    def label(self) -> str:
        return f"slide {self.number}"

    def heading(self) -> str:
        return self.title or f"Slide {self.number}"


@dataclass(frozen=True)
class Deck:
    title: str | None  # the deck's document title, else its first slide's title
    slides: tuple[Slide, ...]


def _shapes(shapes):
    """Every shape, group members included, top to bottom and left to right as the slide reads."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0))):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _clean(text: str) -> str:
    return " ".join(text.replace("\x0b", " ").split())


def _read_slide(number: int, slide) -> Slide:
    title_shape = slide.shapes.title
    title = _clean(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
    bullets: list[tuple[int, str]] = []
    tables: list[tuple[tuple[str, ...], ...]] = []
    for shape in _shapes(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if shape.has_text_frame:
            bullets.extend((p.level, _clean(p.text)) for p in shape.text_frame.paragraphs if _clean(p.text))
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = tuple(tuple(_clean(cell.text) for cell in row.cells) for row in shape.table.rows)
            if any(any(row) for row in rows):
                tables.append(rows)
    notes = ""
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = "\n".join(_clean(line) for line in slide.notes_slide.notes_text_frame.text.splitlines() if line.strip())
    return Slide(number, title or None, tuple(bullets), tuple(tables), notes)


def read_deck(path: Path) -> Deck:
    """The slides of a .pptx file; BadFileError when python-pptx cannot open it as a deck."""
    from pptx import Presentation
    from pptx.exc import PythonPptxError

    try:
        deck = Presentation(str(path))
        slides = tuple(_read_slide(n, slide) for n, slide in enumerate(deck.slides, start=1))
        doc_title = _clean(deck.core_properties.title or "")
    except (PythonPptxError, zipfile.BadZipFile, KeyError, ValueError, AttributeError, TypeError) as err:
        raise BadFileError(
            f"is not a readable PowerPoint deck ({type(err).__name__}: {err}); re-save it from PowerPoint or Impress as .pptx"
        ) from None
    first_title = next((s.title for s in slides if s.title), None)
    return Deck(doc_title or first_title, slides)


def slide_sections(deck: Deck, title: str) -> list[Section]:
    """One section per slide that has text: its title as the heading, bullets as list items, tables, then the notes."""
    sections: list[Section] = []
    for slide in deck.slides:
        parts: list[str] = []
        if slide.bullets:
            parts.append("\n".join(f"{'  ' * level}- {text}" for level, text in slide.bullets))
        parts.extend(markdown_table(rows) for rows in slide.tables)
        if slide.notes:
            parts.append(f"Speaker notes: {slide.notes}")
        if not parts and slide.title:
            parts.append(slide.title)  # a title-only slide is still a place a learner can be sent to
        if parts:
            # A title slide that repeats the deck's title adds no heading of its own.
            headings = (title,) if slide.heading() == title else (title, slide.heading())
            sections.append(Section(headings, slide.anchor, "\n\n".join(parts), label=slide.label))
    if not sections:
        raise BadFileError("has no text on its slides (only pictures?); add slide text or speaker notes, or a Markdown version")
    return sections


def render_deck(deck: Deck) -> str:
    """Lesson HTML: the slides one after another, each with the id its citations use."""
    out: list[str] = []
    for slide in deck.slides:
        parts = [f'<span class="slide-number">{slide.label}</span>', f"<h2>{html.escape(slide.heading())}</h2>"]
        if slide.bullets:
            items = "".join(
                f'<li{indent_style(level)}>{html.escape(text)}</li>' for level, text in slide.bullets
            )
            parts.append(f"<ul>{items}</ul>")
        for rows in slide.tables:
            head = "".join(f"<th>{html.escape(cell)}</th>" for cell in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if slide.notes:
            notes = "".join(f"<p>{html.escape(line)}</p>" for line in slide.notes.splitlines())
            parts.append(f'<aside class="notes"><strong>Speaker notes</strong>{notes}</aside>')
        out.append(f'<section class="slide" id="{slide.anchor}" data-cite>{"".join(parts)}</section>')
    return "\n".join(out)
