"""A lesson that turns bad (or goes) after ingest: its page shows the last good version from the index, not a 422."""
from __future__ import annotations

import httpx
import pytest

from tests.conftest import serving


@pytest.mark.parametrize("damage", ["nul-bytes-and-bad-utf8", "emptied", "deleted"])
def test_a_lesson_that_turns_bad_after_ingest_shows_its_indexed_text_with_working_anchors(damage, settings, course, run_ingest, embedder):
    run_ingest(settings)
    lesson = course / "01-telescopes.md"
    if damage == "nul-bytes-and-bad-utf8":
        lesson.write_bytes(b"# Telescopes\n\n\x00\x00\xff\xfe broken save")
    elif damage == "emptied":
        lesson.write_text("")
    else:
        lesson.unlink()
    with serving(settings, embedder) as (url, guide):
        response = httpx.get(url + "/course/01-telescopes.md", timeout=30)
        assert response.status_code == 200, response.text[:300]
        page = response.text
        assert "cannot be read right now" in page and "last good version" in page
        assert "Isaac Newton built the first practical reflector in 1668." in page
        for chunk in guide.index.chunks():
            if chunk.source == "01-telescopes.md" and chunk.anchor:
                assert f'id="{chunk.anchor}"' in page, chunk.anchor  # every citation link still lands
        assert httpx.get(url + "/course/03-planets.html", timeout=30).status_code == 200
