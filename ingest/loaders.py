"""Reads course files into titled sections: Markdown, HTML and text through core.markup, PDF page by page with pypdf,
notebooks, slides, transcripts and Word documents through their own modules."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from core.markup import (
    FrontMatterError,
    Section,
    Slugger,
    TocSlugger,
    html_title,
    html_to_markdown,
    markdown_sections,
    plaintext_sections,
    split_front_matter,
)
from ingest.errors import BadFileError
from ingest.quizzes import is_quiz_file
from ingest.transcripts import is_sidecar, read_transcript, sidecar_of, transcript_sections

# pypdf logs faults it recovers from ("EOF marker not found") as warnings; ingest reports each file's fate itself.
logging.getLogger("pypdf").setLevel(logging.ERROR)

FORMATS = {
    ".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf", ".html": "html", ".htm": "html",
    ".ipynb": "notebook", ".pptx": "slides", ".vtt": "transcript", ".srt": "transcript",
    ".docx": "word",
}
# Formats read from their bytes by their own library, not decoded as text.
BINARY_FORMATS = {"pdf", "slides", "word"}


@dataclass(frozen=True)
class CourseSite:
    """Where a course's own site (built from the same folder) shows each Markdown lesson, and its heading-id rule."""

    base_url: str | None = None  # no trailing slash; None: no site, only lessons' front-matter urls
    style: str = "mkdocs"  # "mkdocs" or "github"

    @classmethod
    def from_settings(cls, settings) -> CourseSite:
        return cls(settings.course_site_url, settings.course_site_style)

    def slugger(self) -> Slugger:
        return TocSlugger() if self.style == "mkdocs" else Slugger()

    def page_url(self, source: str) -> str | None:
        """MkDocs: 'notes/09-drift.md' -> BASE/notes/09-drift/ (index.md and README.md -> their folder);
        GitHub: BASE/notes/09-drift.md, for BASE such as https://github.com/ORG/REPO/blob/main/corpus."""
        if self.base_url is None:
            return None
        if self.style == "github":
            return f"{self.base_url}/{quote(source)}"
        folder, _, name = source.rpartition("/")
        stem = name.rsplit(".", 1)[0]
        page = f"{folder}/" if folder else ""
        if stem not in ("index", "README"):
            page += f"{stem}/"
        return f"{self.base_url}/{quote(page)}"


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the corpus folder, forward slashes
    title: str
    format: str
    sections: list[Section]
    order: int | None = None  # the lesson's place in the contents page, from Markdown front matter


def list_course_files(corpus_dir: Path) -> tuple[list[Path], dict[Path, str]]:
    """(files we can ingest, {file we skip: why}), sorted; hidden files and folders are ignored."""
    root = Path(corpus_dir).resolve()
    supported: list[Path] = []
    skipped: dict[Path, str] = {}
    for path in sorted(Path(corpus_dir).rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file() or is_quiz_file(relative):
            continue  # quiz files are read by ingest.quizzes, not as lessons
        if is_sidecar(path):
            continue  # read with the transcript it describes
        if not path.resolve().is_relative_to(root):
            # The lesson view never serves files outside the course folder, so their citations could not open.
            skipped[path] = "a link to a file outside the course folder; copy the file in instead"
        elif path.suffix.lower() not in FORMATS:
            skipped[path] = f"not a course format ({', '.join(sorted(FORMATS))})"
        else:
            supported.append(path)
    return supported, skipped


def source_sha256(path: Path) -> str:
    """The hash that says whether a course file changed: its bytes, and its transcript sidecar's if it has one."""
    with path.open("rb") as data:  # streamed: an oversized file is hashed (to remember it failed) without being held
        digest = hashlib.file_digest(data, "sha256")
    sidecar = sidecar_of(path) if path.suffix.lower() in (".vtt", ".srt") else None
    if sidecar is not None:
        digest.update(b"\0sidecar\0" + sidecar.read_bytes())
    return digest.hexdigest()


def title_from_filename(path: Path) -> str:
    """'09-model-monitoring.md' -> 'Model monitoring'."""
    words = re.sub(r"^[\d_\-. ]+", "", path.stem).replace("_", " ").replace("-", " ").strip()
    return (words or path.stem).capitalize()


def decode_text(data: bytes) -> str:
    """Text of a text-format file, or BadFileError for empty, binary or non-UTF-8 content."""
    if not data.strip():
        raise BadFileError("the file is empty; add the lesson text or remove the file")
    if b"\x00" in data:  # anywhere: a NUL past the start would reach answers as \u0000
        at = data.index(b"\x00")
        raise BadFileError(f"looks like a binary file, not text (a NUL byte at offset {at}); check its extension or re-save it as text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadFileError(
            f"is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}); re-save it as UTF-8"
        ) from None
    if not text.strip():
        raise BadFileError("the file is empty; add the lesson text or remove the file")
    return text


def _clean_pdf_text(text: str) -> str:
    """Joins hyphenated line breaks; keeps line breaks, which the chunker uses as soft boundaries."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _pdf_outline(reader) -> list[tuple[int, str]]:
    """(1-based page, title) of each outline entry, in page order; empty if the PDF has no usable outline."""
    entries: list[tuple[int, str]] = []

    def walk(items) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item)
                continue
            page_index = reader.get_destination_page_number(item)
            if page_index is not None and page_index >= 0:
                entries.append((page_index + 1, str(item.title).strip()))

    walk(reader.outline)
    return sorted(entries, key=lambda e: e[0])


def load_pdf(path: Path, source: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadFileError("is an encrypted (password-protected) PDF; save an unencrypted copy into the course")
        pages = [_clean_pdf_text(page.extract_text() or "") for page in reader.pages]
        outline = _pdf_outline(reader)
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except BadFileError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as err:
        raise BadFileError(f"is not a readable PDF ({type(err).__name__}: {err}); re-export it from the source") from None
    if not any(pages):
        raise BadFileError("has no extractable text (a scanned PDF?); add a text-based PDF or a Markdown version")
    title = meta_title.strip() or next(line for page in pages for line in page.splitlines())
    sections: list[Section] = []
    current: tuple[str, ...] = (title,)
    for number, text in enumerate(pages, start=1):
        starts = [t for p, t in outline if p == number]
        lines = text.splitlines()
        block_start = 0
        for i, line in enumerate(lines):
            if line in starts:
                if block_start < i:
                    sections.append(Section(current, None, "\n".join(lines[block_start:i]), page=number))
                current = (title, line) if line != title else (title,)
                block_start = i + 1
        if block_start < len(lines):
            sections.append(Section(current, None, "\n".join(lines[block_start:]), page=number))
    return Document(source, title, "pdf", sections)


def load_document(path: Path, corpus_dir: Path, site: CourseSite = CourseSite()) -> Document:
    """Load one course file; raises BadFileError with a reason a person can act on.

    A Markdown lesson's citations open the course site's page (its front-matter url, else `site`'s page for it)."""
    source = path.relative_to(corpus_dir).as_posix()
    fmt = FORMATS[path.suffix.lower()]
    if fmt in BINARY_FORMATS and path.stat().st_size == 0:
        raise BadFileError("the file is empty; add the lesson text or remove the file")
    title: str | None
    if fmt == "pdf":
        return load_pdf(path, source)
    if fmt == "slides":
        from ingest.slides import read_deck, slide_sections

        deck = read_deck(path)
        deck_title = deck.title or title_from_filename(path)
        return Document(source, deck_title, fmt, slide_sections(deck, deck_title))
    if fmt == "word":
        from ingest.worddocs import read_word, word_sections

        title, sections = word_sections(read_word(path))
        return Document(source, title or title_from_filename(path), fmt, sections)
    text = decode_text(path.read_bytes())
    if fmt == "transcript":
        transcript = read_transcript(path, text)
        lecture = transcript.title or title_from_filename(path)
        return Document(source, lecture, fmt, transcript_sections(transcript, lecture))
    if fmt == "notebook":
        from ingest.notebooks import notebook_sections, read_notebook

        title, sections = notebook_sections(read_notebook(text))
    elif fmt == "markdown":
        try:
            meta, body = split_front_matter(text)
        except FrontMatterError as err:
            raise BadFileError(str(err)) from None
        title, sections = markdown_sections(body)
        page = meta["url"].split("#")[0] if meta.get("url") else site.page_url(source)
        if page:
            # The lesson's page on the course site: citations open it there, at the heading's id as that site writes it.
            _, site_sections = markdown_sections(body, site.slugger())
            sections = [replace(s, url=f"{page}#{on_site.anchor}" if on_site.anchor else page)
                        for s, on_site in zip(sections, site_sections)]
        if not sections:
            raise BadFileError("has no text to index (only headings or markup); add lesson text")
        return Document(source, meta.get("title") or title or title_from_filename(path), fmt, sections, meta.get("order"))
    elif fmt == "html":
        title, sections = markdown_sections(html_to_markdown(text))
        title = html_title(text) or title
    else:
        title, sections = plaintext_sections(text)
    if not sections:
        raise BadFileError("has no text to index (only headings or markup); add lesson text")
    return Document(source, title or title_from_filename(path), fmt, sections)
