"""The chat's Sources list under a real CommonMark renderer: a lesson title cannot break out of its link."""
from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from app.web.chat import answer_markdown
from core.types import Answer, Chunk, Citation, RetrievedChunk


@pytest.mark.parametrize("title", [
    "x](javascript:alert(1))[y",
    "Lenses [draft](http://evil.example)",
    "*Stars* and `code` <img src=x onerror=alert(1)>",
    "Back\\slash ] and ) and !",
])
def test_a_lesson_title_with_markdown_in_it_stays_one_label_and_one_link(title):
    chunk = Chunk("c1", "A lens bends light.", "01-lenses.md", title, title, "lenses", None, 0, "sha")
    answer = Answer(
        question="What does a lens do?", answer="A lens bends light. [1]", refused=False,
        citations=[Citation.for_chunk(1, chunk, "http://127.0.0.1:7860")], retrieved=[RetrievedChunk(chunk, 0.9)],
    )
    rendered = MarkdownIt("commonmark").render(answer_markdown(answer))
    hrefs = re.findall(r'href="([^"]*)"', rendered)
    assert hrefs == ["/course/01-lenses.md#lenses", "/course/01-lenses.md#lenses"], rendered  # the marker and the source
    assert "javascript:" not in " ".join(hrefs) and "evil.example" not in " ".join(hrefs)
    assert "<img" not in rendered and "<em>" not in rendered and "<code>" not in rendered
    label = re.findall(r"<li><a [^>]*>(.*?)</a></li>", rendered)[0]
    assert label.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"') == title
