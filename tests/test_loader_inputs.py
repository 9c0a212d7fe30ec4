"""Odd bytes in course files: each is refused with a reason, or read into text a learner can see."""
from __future__ import annotations

import pytest

from ingest.loaders import BadFileError, decode_text


@pytest.mark.parametrize("offset", [0, 8191, 8192, 100_000, 2_000_000])
def test_a_nul_byte_at_offset_is_refused_wherever_it_is(offset):
    text = ("The lens bends light. " * (offset // 22 + 10)).encode()
    data = text[:offset] + b"\x00" + text[offset:]
    with pytest.raises(BadFileError, match=f"a NUL byte at offset {offset}"):
        decode_text(data)


def test_a_nul_byte_after_the_first_8_kb_never_reaches_the_index(course, settings, run_ingest):
    (course / "05-late-nul.md").write_bytes(b"# Late NUL\n\n" + b"The mirror reflects light. " * 400 + b"\x00 tail")
    report = run_ingest(settings)
    assert [p.source for p in report.problems] == ["05-late-nul.md"] and "NUL byte" in report.problems[0].reason
