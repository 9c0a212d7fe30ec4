"""Lesson furniture: the lines and marks of real course repositories that are not prose to quote (images, video
thumbnails, badges, admonition and blockquote markers, emoji call-outs, quiz and link-only lines, code placeholders,
page headers and footers).

Chunks keep all of it for embedding and citing; `core.text.split_sentences` uses this module so that no answer,
eval check or quiz question ever quotes it."""
from __future__ import annotations

import re

# `![alt](src)`, `![alt](src "title")` and reference-style `![alt][ref]`.
_IMAGE = r"!\[[^\]\n]*\]\s*(?:\([^)\n]*\)|\[[^\]\n]*\])"
IMAGE = re.compile(_IMAGE)
# A thumbnail that links somewhere (a video, a larger image): `[![alt](thumb)](link)`.
LINKED_IMAGE = re.compile(r"\[\s*" + _IMAGE + r"\s*\]\s*(?:\([^)\n]*\)|\[[^\]\n]*\])")
_LINK = re.compile(r"\[[^\]\n]*\]\s*(?:\([^)\n]*\)|\[[^\]\n]*\])")
_URL = re.compile(r"<?https?://\S+>?")
# A reference definition `[ref]: https://...` and a GitHub admonition marker `[!NOTE]`.
_REFERENCE = re.compile(r"^\s*\[[^\]\n]+\]:\s*\S+")
ADMONITION = re.compile(r"^\s*\[!(?:NOTE|TIP|IMPORTANT|WARNING|CAUTION)\]\s*", re.I)
# `>` markers of a blockquote, nested ones too: the prose inside is kept, the markers are not.
BLOCKQUOTE = re.compile(r"^\s{0,3}(?:>\s?)+")
PLACEHOLDER = re.compile(r"\(\s*code (?:block|cell) \d+\s*\)", re.I)
# Pictographs that open a call-out line (🎥 ✅ 📝 🎓 🚀 ...): the Unicode symbol blocks, plus ✅ ✔ ✏ ⚡ ⭐ and variation selectors.
_EMOJI = "\U0001F300-\U0001FAFF\u2600-\u27BF\u2B50\u2B55\u231A-\u23FF\uFE0F\u200D"
_EMOJI_START = re.compile(rf"^\s*[{_EMOJI}]+\s*")
# A call-out's label after its emoji: "🚀 Challenge: ...", "✅ Task: ...".
_CALLOUT_LABEL = re.compile(r"^\**(?:challenge|task|exercise|assignment|homework|try it|quiz|review & self study|self study)\b", re.I)
# What a call-out asks the learner to do: the instruction that follows its emoji (or a bold label such as **Task**:).
_INSTRUCTION = re.compile(
    r"^(?:\*\*[^*]{1,30}\*\*\s*:?\s*|[A-Z][a-z]+\s*:\s*)?(?:click|watch|run|try|open|take|read|think|check|see|do|"
    r"complete|explore|make|create|go|visit|review|follow|listen|study|spend|search|look|find|write|draw|build|install|"
    r"download|answer|consider|discuss|imagine|practi[cs]e|experiment|test|copy|paste|type|add|navigate|start|"
    r"launch|fork|clone|share|post|submit|learn more|don't forget|remember to|let's|you can|in this)\b",
    re.I,
)
_VIDEO_CALLOUT = re.compile(
    r"\b(?:click (?:on )?(?:the|this) (?:image|picture|thumbnail)|image above for a video|for a video|watch (?:this|the) video|"
    r"video (?:above|below)|youtube\.com|youtu\.be)\b",
    re.I,
)
_QUIZ = re.compile(r"\b(?:pre|post)[- ]?lecture quiz\b|\bquiz\b", re.I)
_CREDIT = re.compile(
    r"^(?:\W*)(?:sketchnote|infographic|illustration|image|photo|graphic|artwork|cartoon|drawing|diagram|meme)s?\b[^.]{0,40}?"
    r"\b(?:by|from|credit|courtesy)\b",
    re.I,
)
# A page's running header or footer as a PDF or slide export leaves it: "The MLOps Tool Landscape Page 4", "12 / 40".
_PAGE_MARK = re.compile(r"(?:^|\s)(?:page|p\.|slide)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$|^\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.I)
# The closing parts of a real course repository's lesson ("## 🚀 Challenge", "## Review & Self Study", "## Assignment",
# "## Credits", "### Recommended Resources for Self Study"): pointers and tasks, not the lesson's content.
_APPENDIX_HEADING = re.compile(
    r"^\W*(?:review|self[- ]study|assignments?|challenges?(?:\s+\d+)?\s*\W*$|credits|acknowledg|further reading|"
    r"(?:additional |recommended |more |useful |extra )?(?:resources|references|reading|links)\b|homework|knowledge check)",
    re.I,
)
# A sentence that sends the reader elsewhere: "Learn more in the [docs](...)", "Explore the [TDSP lifecycle](...)".
_POINTER = re.compile(
    r"^(?:\W*)(?:learn more|read more|find out more|for more (?:information|details)|explore|check (?:out )?|see|read|"
    r"refer to|visit|take a look|have a look|look at|browse|dig deeper)\b|\bif you(?:'re| are) interested\b",
    re.I,
)
_BADGE_HOSTS = re.compile(r"shields\.io|badge|/workflows/|travis-ci|codecov|badgen", re.I)
_WORDS = re.compile(r"[A-Za-z]{2,}")


def strip_quote_markers(line: str) -> tuple[int, str]:
    """A line without its blockquote `>` markers and its admonition marker: (characters cut from the start, the rest)."""
    cut = 0
    quote = BLOCKQUOTE.match(line)
    if quote:
        cut = quote.end()
    admonition = ADMONITION.match(line[cut:])
    if admonition:
        cut += admonition.end()
    return cut, line[cut:]


def inline_furniture(text: str) -> list[tuple[int, int]]:
    """Spans of `text` that are furniture inside prose: linked thumbnails, images and code placeholders."""
    spans: list[tuple[int, int]] = []
    for pattern in (LINKED_IMAGE, IMAGE, PLACEHOLDER):
        for match in pattern.finditer(text):
            if not any(s <= match.start() < e for s, e in spans):
                spans.append(match.span())
    return sorted(spans)


def _prose_left(text: str) -> str:
    """The text with images, links, URLs and placeholders taken out: what a reader would read as prose."""
    text = LINKED_IMAGE.sub(" ", text)
    text = IMAGE.sub(" ", text)
    text = PLACEHOLDER.sub(" ", text)
    text = _LINK.sub(" ", text)
    return _URL.sub(" ", text)


def furniture_kind(text: str) -> str | None:
    """Which kind of furniture a line or sentence is ('image', 'thumbnail', 'badge', 'callout', 'quiz', 'link',
    'placeholder', 'credit', 'admonition', 'page'), or None when it is prose worth quoting. Quote markers are ignored."""
    _, line = strip_quote_markers(text)
    bare = line.strip()
    if not bare:
        return "admonition" if ADMONITION.match(BLOCKQUOTE.sub("", text)) else None
    if _REFERENCE.match(bare):
        return "link"
    prose = _prose_left(bare)
    if not _WORDS.search(prose):
        # Nothing but marks, images and links.
        if _BADGE_HOSTS.search(bare) and IMAGE.search(bare):
            return "badge"
        if LINKED_IMAGE.search(bare):
            return "thumbnail"
        if IMAGE.search(bare):
            return "image"
        if PLACEHOLDER.search(bare):
            return "placeholder"
        return "quiz" if _QUIZ.search(bare) else "link"
    if _VIDEO_CALLOUT.search(bare):
        return "callout"
    emoji = _EMOJI_START.match(bare)
    if emoji and (_INSTRUCTION.match(bare[emoji.end() :]) or _CALLOUT_LABEL.match(bare[emoji.end() :])):
        return "callout"
    if _QUIZ.search(bare) and (_LINK.search(bare) or _URL.search(bare) or len(prose.split()) <= 4):
        return "quiz"
    if _CREDIT.match(prose.strip()) and len(prose.split()) <= 12:
        return "credit"
    if _PAGE_MARK.search(bare) and len(bare.split()) <= 12:
        return "page"
    return None


def is_appendix_heading(heading: str) -> bool:
    """Whether a section heading names a lesson's closing part (a challenge, an assignment, review and self study,
    credits, further resources) rather than its content."""
    return bool(_APPENDIX_HEADING.match(heading.strip()))


# "... refer to one of the following resources:", "Here are some articles to read on this topic:": a list of pointers.
_POINTER_LIST = re.compile(
    r"\b(?:following|these|some|more|further|additional|other|useful)\s+(?:\w+\s+)?(?:resources|links|readings?|articles|"
    r"tutorials|videos|blog posts|courses|references)\b", re.I)


def is_pointer(sentence: str) -> bool:
    """Whether a sentence only points elsewhere, saying little itself: "Learn more in the [docs](...)", or a lead-in to
    a list of resources (its items, "[Title](url) - a quick intro", are not told apart from a list of components that
    opens each with a link, so only the lead-in is)."""
    if sentence.rstrip().endswith(":") and _POINTER_LIST.search(sentence):
        return True
    return bool(_LINK.search(sentence) or _URL.search(sentence)) and bool(_POINTER.search(_prose_left(sentence).strip()))


def is_furniture(text: str) -> bool:
    """Whether a line or sentence is furniture, never to be quoted."""
    return furniture_kind(text) is not None


def without_furniture(text: str) -> str:
    """A passage with its furniture lines left out (code kept as it is): what may be quoted of it whole."""
    kept: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code and is_furniture(line):
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
