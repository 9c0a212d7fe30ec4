"""Sentences and words of course text, shared by the offline answerer and the eval harness."""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.furniture import inline_furniture, is_furniture, strip_quote_markers

_LIST_MARKER = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,3}[.)])\s+(?:\[[ xX]\]\s+)?")
_HEADING_OR_RULE = re.compile(r"^\s*(?:#{1,6}\s|\|.*\||[-=*_]{3,}\s*$)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[*]*[A-Z0-9])")
_ABBREVIATIONS = {"e.g.", "i.e.", "etc.", "vs.", "dr.", "mr.", "mrs.", "ms.", "fig.", "no.", "approx.", "cf.", "al."}
_WORD = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
# The start of an HTML tag, comment or declaration: "<" then a letter, "/", "!" or "?". A lone "a < b" is no tag.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


# What can end a Markdown link's text early or turn it into inline markup: brackets, parentheses, emphasis,
# strikethrough, code, tags and entities, and the escape itself. ">" and "#" only matter at a line's start, never here.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]()<~&])")


def markdown_link_text(text: str) -> str:
    """`text` safe as Markdown inside [...](...) or on its own: every Markdown special is backslash-escaped, so a
    lesson title such as 'x](javascript:alert(1))[y' stays one label and the link goes where we point it."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def neutralise_html(text: str) -> str:
    """Markdown in which no HTML tag from course text is live: each tag's "<" becomes "&lt;".

    A Markdown or HTML renderer then shows `<img onerror=...>` as text and never runs it; "a < b" is kept.
    A client that shows the text as plain text can turn "&lt;" back into "<"."""
    return _TAG_START.sub("&lt;", text)

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just let me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves tell explain describe define mean means
    meant give show please course lesson thing things also may might must shall us one two using used use""".split()
)


@dataclass(frozen=True)
class Sentence:
    """A sentence (or list item) of a passage: its text, and where it sits in the passage."""

    text: str  # whitespace-normalised; list markers left out
    start: int  # character span in the passage text
    end: int
    block: int  # sentences of one paragraph, or of one list item, share a block
    is_item: bool  # a list item


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def stem(word: str) -> str:
    """A light plural/possessive fold, enough to match 'models' with 'model'."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words, in order."""
    # "what's" and "it's" are stop words too, once the 's is off.
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and w.removesuffix("'s") not in STOPWORDS]


def _split_line(text: str, offset: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        before = text[start : match.start()].split()
        if before and before[-1].lower() in _ABBREVIATIONS:
            continue
        spans.append((offset + start, offset + match.start()))
        start = match.end()
    if text[start:].strip():
        spans.append((offset + start, offset + len(text.rstrip())))
    return spans


def _starts_inside_code(passage: str) -> bool:
    """A chunk cut from the middle of a code block has an odd number of fences, the first a bare closing one."""
    fences = [line.strip() for line in passage.splitlines() if _FENCE.match(line)]
    return len(fences) % 2 == 1 and fences[0] in ("```", "~~~")


def _segments(offset: int, line: str, keep_furniture: bool) -> list[tuple[int, str]]:
    """The parts of a line to read as prose, each with its offset in the passage: inline images and placeholders cut out."""
    if keep_furniture:
        return [(offset, line)]
    parts: list[tuple[int, str]] = []
    at = 0
    for s, e in inline_furniture(line):
        if line[at:s].strip():
            parts.append((offset + at, line[at:s]))
        at = e
    if line[at:].strip():
        parts.append((offset + at, line[at:]))
    return parts


def _spans(lines: list[list[tuple[int, str]]]) -> list[tuple[str, int, int]]:
    """Sentences of the joined lines: (text, start, end), with start and end mapped back into the passage."""
    joined: list[str] = []
    where: list[int] = []
    for segments in lines:
        for offset, part in segments:
            if joined:
                joined.append(" ")
                where.append(where[-1] + 1)
            joined.append(part)
            where.extend(range(offset, offset + len(part)))
    text = "".join(joined)
    return [(normalise_space(text[s:e]), where[s], where[e - 1] + 1) for s, e in _split_line(text, 0) if e > s]


def split_sentences(passage: str, *, keep_furniture: bool = False) -> list[Sentence]:
    """Sentences of a passage. List items stand alone; wrapped lines of a paragraph are joined.

    Furniture (core.furniture: images, thumbnails, badges, call-outs, quiz and link-only lines, placeholders) is
    left out, and blockquote and admonition markers are cut, unless `keep_furniture`; code is never a sentence."""
    sentences: list[Sentence] = []
    block = 0
    paragraph: list[list[tuple[int, str]]] = []  # per line: (offset, text) segments
    item: list[list[tuple[int, str]]] = []  # the open list item's lines, its wrapped lines included

    def flush_paragraph() -> None:
        nonlocal block
        for lines, is_item in ((paragraph, False), (item, True)):
            if not lines:
                continue
            for text, s, e in _spans(lines):
                sentences.append(Sentence(text, s, e, block, is_item))
            lines.clear()
            block += 1

    offset = 0
    in_code = _starts_inside_code(passage)
    for line in passage.splitlines(keepends=True):
        bare = line.rstrip("\n")
        cut, content = (0, bare) if keep_furniture else strip_quote_markers(bare)
        marker = _LIST_MARKER.match(content)
        if _FENCE.match(content):
            # Code is shown in the lesson, but it is not prose to quote as an answer sentence.
            flush_paragraph()
            in_code = not in_code
        elif in_code or not content.strip() or _HEADING_OR_RULE.match(content):
            flush_paragraph()
        elif not keep_furniture and is_furniture(content[marker.end() :] if marker else content):
            flush_paragraph()
        elif marker:
            flush_paragraph()
            item.append(_segments(offset + cut + marker.end(), content[marker.end() :], keep_furniture))
        elif item:
            # A line straight after an item's line, with no blank line between, wraps that item (Markdown's lazy
            # continuation; PDF text wraps every long item this way): it is part of the item, not a new paragraph.
            item.append(_segments(offset + cut, content, keep_furniture))
        else:
            paragraph.append(_segments(offset + cut, content, keep_furniture))
        offset += len(line)
    flush_paragraph()
    return [s for s in sentences if s.text and (keep_furniture or not is_furniture(s.text))]


def heading_question(heading: str) -> str | None:
    """'What is MLOps?' stays; 'What experiment tracking is' becomes 'What is experiment tracking?'; others give None."""
    if heading.endswith("?"):
        return heading
    match = re.match(r"^what (.+) (is|are)$", heading, flags=re.I)
    return f"What {match.group(2)} {match.group(1)}?" if match else None
