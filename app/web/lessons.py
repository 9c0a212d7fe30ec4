"""The lesson pages at /course/...: each course document as HTML whose heading ids match the citation anchors, and the contents page."""
from __future__ import annotations

import html
import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import HTTPException

from core.markup import FrontMatterError, html_to_markdown, render_markdown, render_plaintext, split_front_matter
from core.store import FileEntry
from core.types import SECTION_SEPARATOR, Chunk
from ingest.loaders import FORMATS, BadFileError, decode_text

log = logging.getLogger("course_guide")

_LESSON_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Course Guide</title>
<style>
:root {{ color-scheme: light dark; --accent: #4f46e5; --mark: #fef3c7; --text: #1f2937; --bg: #ffffff; --muted: #6b7280; }}
@media (prefers-color-scheme: dark) {{ :root {{ --mark: #3f3a1a; --text: #e5e7eb; --bg: #111827; --muted: #9ca3af; --accent: #a5b4fc; }} }}
body {{ margin: 0; font: 17px/1.65 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--text); background: var(--bg); }}
header {{ border-bottom: 1px solid #e5e7eb55; padding: .8rem 1.5rem; display: flex; gap: 1rem; align-items: baseline; }}
header a {{ color: var(--accent); text-decoration: none; font-weight: 600; }}
header span, li small {{ color: var(--muted); font-size: .9rem; }}
main {{ max-width: 46rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }}
h1, h2, h3, h4 {{ line-height: 1.25; scroll-margin-top: 1rem; }}
a {{ color: var(--accent); }}
pre {{ overflow-x: auto; padding: .8rem; border-radius: 6px; background: #8881; }}
code {{ font-size: .9em; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #8884; padding: .3rem .6rem; }}
.cited {{ background: var(--mark); border-left: 4px solid var(--accent); padding-left: .8rem; margin-left: -1.05rem; }}
h1.cited, h2.cited, h3.cited, h4.cited {{ margin-bottom: 0; padding-top: .4rem; }}
p.cited, ul.cited, ol.cited, pre.cited, table.cited {{ margin-top: 0; margin-bottom: 0; padding-top: .5rem; padding-bottom: .5rem; }}
ul.cited, ol.cited {{ padding-left: 2.6rem; }}
section[data-cite] {{ position: relative; margin: 1rem 0; padding: .2rem .8rem; border-left: 4px solid transparent; scroll-margin-top: 1rem; }}
section[data-cite].cited {{ margin-left: 0; border-left-color: var(--accent); }}
.cell-number, .slide-number, .cue-time {{ display: block; color: var(--muted); font-size: .8rem; font-family: ui-monospace, monospace; }}
pre.output {{ background: none; border-left: 2px solid #8884; border-radius: 0; margin-top: -.4rem; }}
section.slide {{ border: 1px solid #8884; border-radius: 8px; padding: .6rem 1.2rem; }}
aside.notes {{ color: var(--muted); font-size: .92rem; border-top: 1px dashed #8886; margin-top: .6rem; }}
/*EXTRA_CSS*/
</style></head>
<body><header><a href="{root}/">&larr; Course Guide chat</a><a href="{root}/course/">Contents</a><span>{source}</span></header>
<main>{body}</main>
<script>
// Mark the cited section: the heading the link points at and its text, up to the next heading;
// or the cited notebook cell, slide or transcript passage (elements marked data-cite) as a whole.
function markCited() {{
  document.querySelectorAll('.cited').forEach(el => el.classList.remove('cited'));
  const id = decodeURIComponent(location.hash.slice(1));
  const heading = id && document.getElementById(id);
  if (heading && heading.hasAttribute('data-cite')) {{
    heading.classList.add('cited');
    heading.scrollIntoView();
    return;
  }}
  if (!heading || !/^H[1-6]$/.test(heading.tagName)) return;
  heading.classList.add('cited');
  for (let el = heading.nextElementSibling; el; el = el.nextElementSibling) {{
    if (/^H[1-6]$/.test(el.tagName)) break;
    el.classList.add('cited');
  }}
  heading.scrollIntoView();
}}
window.addEventListener('hashchange', markCited);
markCited();
</script>
</body></html>"""


def resolve_course_file(corpus_dir: Path, relative: str, indexed: set[str]) -> Path:
    """The course file at `relative`, or 404.

    Only files the index holds are served, so hidden drafts, skipped files and anything outside the course
    folder ('..', absolute paths, symlinks, encoded variants) never are; the resolved path is checked as well,
    in case a file was swapped for a link after ingest."""
    root = Path(corpus_dir).resolve()
    if relative not in indexed:
        raise HTTPException(404, "No such course document.")
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise HTTPException(404, "No such course document.")
    return target


def lesson_page(path: Path, source: str, title: str, root: str = "") -> str:
    """A course document as a readable HTML page whose heading ids match the citation anchors (`root`: the course's
    path, /c/NAME for a registered course)."""
    fmt = FORMATS[path.suffix.lower()]
    if fmt == "slides":
        from ingest.slides import read_deck, render_deck

        return _page(title, source, render_deck(read_deck(path)), root=root)
    if fmt == "word":
        from ingest.worddocs import read_word, render_word

        return _page(title, source, render_word(read_word(path)), root=root)
    text = decode_text(path.read_bytes())
    extra_css = ""
    if fmt == "transcript":
        from ingest.transcripts import read_transcript, render_transcript

        body = render_transcript(read_transcript(path, text), title)
    elif fmt == "notebook":
        from ingest.notebooks import highlight_css, read_notebook, render_notebook

        body = render_notebook(read_notebook(text))
        extra_css = highlight_css()
    elif fmt == "markdown":
        try:
            meta, rest = split_front_matter(text)
        except FrontMatterError as err:
            raise BadFileError(str(err)) from None
        body = render_markdown(rest)
        if meta.get("video"):
            # The lesson's lecture video, linked under its title.
            link = f'\n<p class="video"><a href="{html.escape(meta["video"])}">Watch the lecture video</a></p>'
            body = body.replace("</h1>", "</h1>" + link, 1) if "</h1>" in body else link + body
    elif fmt == "html":
        body = render_markdown(html_to_markdown(text))
    else:
        body = render_plaintext(text)
    return _page(title, source, body, extra_css, root)


def _page(title: str, source: str, body: str, extra_css: str = "", root: str = "") -> str:
    return _LESSON_PAGE.replace("/*EXTRA_CSS*/", extra_css.replace("{", "{{").replace("}", "}}")).format(
        title=html.escape(title), source=html.escape(source), body=body, root=root)


def lesson_order(item: tuple[str, FileEntry]) -> tuple:
    """Lessons with an `order` in their front matter first, by that order; then the rest by file name."""
    source, entry = item
    return (entry.order is None, entry.order or 0, source)


def indexed_lesson_page(chunks: list[Chunk], source: str, title: str, problem: str, root: str = "") -> str:
    """The lesson as the index holds it (its last good version), for when its file cannot be read now.

    Each section gets a heading with its citation anchor, so citation links still land; the text is the
    indexed passages', escaped, and neighbouring passages may repeat the words they overlap on."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        '<p class="notice"><strong>This lesson\'s file cannot be read right now</strong> '
        f"({html.escape(problem)}). This is the text the guide has indexed from its last good version; "
        "the course's author can fix the file and run ingest again.</p>",
    ]
    section = None
    for chunk in sorted(chunks, key=lambda c: c.ordinal):
        if chunk.section != section:
            section = chunk.section
            heading = html.escape(section.split(SECTION_SEPARATOR)[-1])
            anchor = f' id="{html.escape(chunk.anchor)}"' if chunk.anchor else ""
            parts.append(f"<h2{anchor}>{heading}</h2>")
        parts.extend(f"<p>{html.escape(paragraph)}</p>" for paragraph in chunk.text.split("\n\n") if paragraph.strip())
    return _LESSON_PAGE.format(title=html.escape(title), source=html.escape(source), body="\n".join(parts), root=root)


def contents_page(files: dict[str, FileEntry], root: str = "") -> str:
    """Every lesson in the index, in course order, so a learner can browse as well as ask."""
    items = "\n".join(
        f'<li><a href="{root}/course/{quote(source)}">{html.escape(entry.title)}</a> <small>{html.escape(source)}</small></li>'
        for source, entry in sorted(files.items(), key=lesson_order)
    )
    body = f"<h1>Course contents</h1>\n<ol>{items}</ol>" if files else "<h1>Course contents</h1><p>No course index yet.</p>"
    return _page("Course contents", "", body, root=root)


