"""Text formats into sections (for ingest) and into HTML (for the lesson view), with one slug rule so citation anchors match."""
from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Raw HTML in lessons (embedded players, scripts) is dropped from both the index and the lesson view:
# it is not course text, and passing it through would let a lesson inject markup into the app.
_HTML_TOKENS = {"html_block", "html_inline"}
_SETEXT_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")


@dataclass(frozen=True)
class Section:
    """The body text under one heading path of a document."""

    headings: tuple[str, ...]
    anchor: str | None
    text: str
    page: int | None = None
    label: str | None = None  # "cell 3", "slide 7", "at 12:34": where a citation of this section points
    url: str | None = None  # an absolute link to the section outside the guide (the lecture video at this time)


class Slugger:
    """GitHub-style heading ids; repeated headings get -1, -2, ... in document order."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def reserve(self, anchor: str) -> None:
        """Keep an id made elsewhere (a notebook cell's "cell-3") from being given to a heading too."""
        self._seen[anchor] += 1

    def slug(self, heading: str) -> str:
        base = re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-") or "section"
        count = self._seen[base]
        self._seen[base] += 1
        return base if count == 0 else f"{base}-{count}"


class TocSlugger(Slugger):
    """MkDocs heading ids: Python-Markdown's toc extension rule (ASCII slug; repeats get _1, _2, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self._ids: set[str] = set()

    def reserve(self, anchor: str) -> None:
        self._ids.add(anchor)

    def slug(self, heading: str) -> str:
        from markdown.extensions.toc import slugify, unique

        return unique(slugify(heading, "-"), self._ids)


def _html_block_tokens(source: str, slugger: Slugger) -> list[Token]:
    """Tokens of an HTML block's text, each carrying the converted lines its map points into (meta["source"])."""
    converted = _convert_html(source, markdown_inside=True).strip()
    if not re.search(r"\w", re.sub(r"\]\([^)]*\)", "]", converted)):
        return []
    tokens = _parse_markdown(converted, slugger, html_blocks=False)
    lines = converted.splitlines()
    for token in tokens:
        token.meta["source"] = lines
    return tokens


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False}).enable("table")


def _inline_text(token: Token) -> str:
    """Plain text of an inline token: emphasis and code marks removed."""
    parts = [" " if child.type in {"softbreak", "hardbreak"} else child.content
             for child in (token.children or []) if child.type in {"text", "code_inline", "softbreak", "hardbreak"}]
    return " ".join("".join(parts).split())


def parse_markdown(text: str, slugger: Slugger | None = None) -> list[Token]:
    """Block tokens with raw HTML removed and an id on every heading.

    Inline HTML removed from an inline token is kept in its meta["html"], so section text can drop it too.
    A document made of several parts (notebook cells) passes one `slugger`, so ids stay unique across them."""
    return _parse_markdown(text, slugger or Slugger(), html_blocks=True)


def _parse_markdown(text: str, slugger: Slugger, html_blocks: bool) -> list[Token]:
    tokens = _markdown().parse(text)
    kept: list[Token] = []
    for i, token in enumerate(tokens):
        if token.type in _HTML_TOKENS:
            # A top-level HTML block can hold lesson text (a <dl> of definitions, a <table>); it is kept as the
            # Markdown it converts to, so ingest and the lesson view both have it and no raw HTML reaches the page.
            # Its converted text is parsed once more with HTML blocks dropped, so the conversion cannot loop.
            if html_blocks and token.type == "html_block" and token.level == 0:
                kept.extend(_html_block_tokens(token.content, slugger))
            continue
        if token.children:
            token.meta["html"] = [child.content for child in token.children if child.type in _HTML_TOKENS]
            token.children = [child for child in token.children if child.type not in _HTML_TOKENS]
        if token.type == "heading_open":
            token.attrSet("id", slugger.slug(_inline_text(tokens[i + 1])))
        kept.append(token)
    return kept


@dataclass(frozen=True)
class MarkdownBlock:
    """A heading (level > 0, its text and id) or a top-level body block (level 0, its Markdown source)."""

    level: int
    text: str
    anchor: str | None = None


def markdown_blocks(text: str, slugger: Slugger | None = None) -> list[MarkdownBlock]:
    """Headings and body blocks of a Markdown text, in order, raw HTML cut out."""
    lines = text.splitlines()
    tokens = parse_markdown(text, slugger)
    blocks: list[MarkdownBlock] = []
    # Inline HTML (an <iframe> inside a paragraph) is cut out of the block source it sits in.
    inline_html = [(t.map[0], html_part) for t in tokens
                   if t.type == "inline" and t.map and "source" not in t.meta for html_part in t.meta.get("html", [])]
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            anchor = token.attrGet("id")
            blocks.append(MarkdownBlock(int(token.tag[1]), _inline_text(tokens[i + 1]), str(anchor) if anchor is not None else None))
        elif token.level == 0 and token.map and token.nesting in (0, 1):
            # A block converted from an HTML block maps into its converted text, not into the file's lines.
            block = "\n".join(token.meta.get("source", lines)[token.map[0] : token.map[1]])
            for line, html_part in inline_html if "source" not in token.meta else ():
                if token.map[0] <= line < token.map[1]:
                    block = block.replace(html_part, "", 1)
            block = block.strip()
            if block:
                blocks.append(MarkdownBlock(0, block))
    return blocks


class HeadingPath:
    """The headings above the current point of a document, as its blocks go by."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.anchor: str | None = None
        self.title: str | None = None

    def enter(self, block: MarkdownBlock) -> None:
        if block.level == 1 and self.title is None:
            self.title = block.text
        while self.stack and self.stack[-1][0] >= block.level:
            self.stack.pop()
        self.stack.append((block.level, block.text))
        self.anchor = block.anchor

    def headings(self) -> tuple[str, ...]:
        return tuple(h for _, h in self.stack)


class FrontMatterError(ValueError):
    """A Markdown lesson's front matter that cannot be read; the message says what to fix."""


_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
FRONT_MATTER_KEYS = {"title": str, "order": int, "url": str, "video": str}


def split_front_matter(text: str) -> tuple[dict, str]:
    """(YAML front matter keys, the rest), the rest padded with blank lines so its line numbers stay the file's own.

    Only the keys in FRONT_MATTER_KEYS are read (others, e.g. MkDocs' own, are ignored); a wrong type is an error."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    import yaml

    try:
        data = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as err:
        raise FrontMatterError(f"has front matter that is not valid YAML ({' '.join(str(err).split())}); fix the block between the --- lines") from None
    if not isinstance(data, dict):
        raise FrontMatterError("has front matter that is not a set of 'key: value' lines; write it as e.g. 'title: My lesson'")
    meta: dict = {}
    for key, kind in FRONT_MATTER_KEYS.items():
        value = data.get(key)
        if value is None:
            continue
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise FrontMatterError(f"has front matter '{key}: {value}', which is not a whole number; write e.g. '{key}: 3'")
        if kind is str:
            value = str(value).strip()
            if key in ("url", "video") and not re.match(r"https?://\S+$", value):
                raise FrontMatterError(f"has front matter '{key}: {value}', which is not an http(s) URL; give the full address")
        meta[key] = value
    return meta, "\n" * match.group(0).count("\n") + text[match.end() :]


def markdown_sections(text: str, slugger: Slugger | None = None) -> tuple[str | None, list[Section]]:
    """The document's first H1 (its title, if any) and the body of each section, as Markdown source.

    Anchors follow `slugger` (the lesson view's GitHub-style ids by default)."""
    path = HeadingPath()
    body: list[str] = []
    sections: list[Section] = []

    def close() -> None:
        if any(part.strip() for part in body):
            sections.append(Section(path.headings(), path.anchor, "\n\n".join(body).strip()))
        body.clear()

    for block in markdown_blocks(text, slugger):
        if block.level:
            close()
            path.enter(block)
        else:
            body.append(block.text)
    close()
    return path.title, sections


def render_markdown(text: str, slugger: Slugger | None = None) -> str:
    """Lesson HTML with the same heading ids that ingest gave the sections."""
    md = _markdown()
    return md.renderer.render(parse_markdown(text, slugger), md.options, {})


def markdown_table(rows: tuple[tuple[str, ...], ...]) -> str:
    """A table (slides, Word) as Markdown rows: kept as a table, never quoted as prose sentences."""
    lines = ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    lines.insert(1, "| " + " | ".join("---" for _ in rows[0]) + " |")
    return "\n".join(lines)


def indent_style(level: int) -> str:
    """The style attribute that indents a nested list item (slides, Word) by its level; none at level 0."""
    return f' style="margin-left: {level * 1.5:g}rem"' if level else ""


def _plaintext_blocks(text: str) -> list[tuple[str, str | int]]:
    """('heading', level) and ('para', text) blocks; a line underlined with === or --- is a heading."""
    lines = text.splitlines()
    blocks: list[tuple[str, str | int]] = []
    para: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.strip() and _SETEXT_UNDERLINE.match(nxt) and len(nxt.strip()) >= 3:
            if para:
                blocks.append(("para", "\n".join(para)))
                para = []
            blocks.append(("heading", line.strip()))
            blocks.append(("level", 1 if nxt.strip()[0] == "=" else 2))
            i += 2
            continue
        if line.strip():
            para.append(line.rstrip())
        elif para:
            blocks.append(("para", "\n".join(para)))
            para = []
        i += 1
    if para:
        blocks.append(("para", "\n".join(para)))
    return blocks


def plaintext_sections(text: str) -> tuple[str | None, list[Section]]:
    """Sections of a plain-text lesson whose headings are underlined (=== for the title, --- for sections)."""
    slugger = Slugger()
    title: str | None = None
    headings: list[str] = []
    anchor: str | None = None
    body: list[str] = []
    sections: list[Section] = []
    pending_heading: str | None = None
    for kind, value in _plaintext_blocks(text):
        if kind == "heading":
            if body:
                sections.append(Section(tuple(headings), anchor, "\n\n".join(body)))
                body = []
            pending_heading = str(value)
        elif kind == "level":
            assert pending_heading is not None
            if value == 1:
                title = title or pending_heading
                headings = [pending_heading]
            else:
                headings = headings[:1] + [pending_heading] if title else [pending_heading]
            anchor = slugger.slug(pending_heading)
        else:
            body.append(str(value))
    if body:
        sections.append(Section(tuple(headings), anchor, "\n\n".join(body)))
    return title, sections


def render_plaintext(text: str) -> str:
    """Lesson HTML for a plain-text lesson: escaped text, headings with the ids ingest used."""
    slugger = Slugger()
    out: list[str] = []
    pending = ""
    for kind, value in _plaintext_blocks(text):
        if kind == "heading":
            pending = str(value)
        elif kind == "level":
            tag = "h1" if value == 1 else "h2"
            out.append(f'<{tag} id="{slugger.slug(pending)}">{html.escape(pending)}</{tag}>')
        else:
            lines = str(value).splitlines()
            if all(line.lstrip().startswith("- ") for line in lines):
                items = "".join(f"<li>{html.escape(line.lstrip()[2:])}</li>" for line in lines)
                out.append(f"<ul>{items}</ul>")
            else:
                out.append(f"<p>{html.escape(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


def html_to_markdown(source: str) -> str:
    """HTML lessons go through the Markdown path, so they get the same sections, anchors and lesson view."""
    return _convert_html(source, markdown_inside=False)


def _convert_html(source: str, markdown_inside: bool) -> str:
    """Markdown for HTML text; `markdown_inside` keeps the Markdown an author wrote inside HTML tags (**bold**)."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    class LessonConverter(MarkdownConverter):
        # "**Term**: definition" is how the answerer knows a definition; pandoc's "Term\n:   definition" is not.
        def convert_dt(self, el: Any, text: str, parent_tags: set[str]) -> str:
            term = " ".join(text.split()).strip("*").strip()
            if "_inline" in parent_tags:
                return f" {term} "
            return f"\n\n**{term}**: " if term else "\n"

        def convert_dd(self, el: Any, text: str, parent_tags: set[str]) -> str:
            return f" {text.strip()} " if "_inline" in parent_tags else f"{text.strip()}\n\n"

    soup = BeautifulSoup(source, "html.parser")
    # Page furniture, media and code are not lesson text; their content must go, not just their tags.
    for tag in soup(["head", "script", "style", "noscript", "template", "iframe", "nav", "footer",
                     "video", "audio", "object", "embed", "svg", "canvas"]):
        tag.decompose()
    converter = LessonConverter(heading_style="ATX", strip=["img"],
                                escape_asterisks=not markdown_inside, escape_underscores=not markdown_inside)
    return converter.convert_soup(soup)


def html_title(source: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", source, flags=re.IGNORECASE | re.DOTALL)
    return html.unescape(match.group(1)).strip() if match and match.group(1).strip() else None
