"""Quiz banks in other platforms' formats: export the course's items as GIFT, Moodle XML or a QTI 1.2 zip, and read GIFT,
Aiken or Moodle XML files into our quiz file. Parsers and writers are pure functions on text; the CLI reads and writes files."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.quiz.formats.aiken import parse_aiken
from app.quiz.formats.gift import parse_gift, write_gift
from app.quiz.formats.model import FormatError, ParsedBank
from app.quiz.formats.moodle_xml import parse_moodle_xml, write_moodle_xml
from app.quiz.formats.qti import write_qti_zip
from core.quiz import QuizItem

EXPORT_FORMATS = ("gift", "moodle-xml", "qti")
IMPORT_FORMATS = ("gift", "aiken", "moodle-xml")
_WRITERS: dict[str, Callable[[list[QuizItem]], bytes]] = {
    "gift": lambda items: write_gift(items).encode("utf-8"),
    "moodle-xml": write_moodle_xml,
    "qti": write_qti_zip,
}
_READERS: dict[str, Callable[[str], ParsedBank]] = {"gift": parse_gift, "aiken": parse_aiken, "moodle-xml": parse_moodle_xml}
_SUFFIXES = {".gift": "gift", ".aiken": "aiken", ".xml": "moodle-xml"}


def export_bank(items: list[QuizItem], fmt: str) -> bytes:
    """The file's bytes for the items in one of EXPORT_FORMATS; FormatError for an empty bank or an unknown format."""
    if fmt not in _WRITERS:
        raise FormatError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if not items:
        raise FormatError("the course's item bank is empty: add quiz files under quizzes/ or more lessons, then run `course-guide ingest`")
    return _WRITERS[fmt](items)


def guess_format(path: Path, text: str) -> str:
    """The import format a file's suffix says; a .txt file (Moodle's name for both GIFT and Aiken) is told apart by its
    content: GIFT questions have answers in { }, Aiken ones an ANSWER: line."""
    suffix = path.suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix == ".txt":
        if "{" in text:
            return "gift"
        if any(line.strip().upper().startswith("ANSWER:") for line in text.splitlines()):
            return "aiken"
    raise FormatError(f"cannot tell the format of {path.name} from its name; pass --format {'|'.join(IMPORT_FORMATS)}")


def parse_bank(text: str, fmt: str) -> ParsedBank:
    """The questions of a file's text in one of IMPORT_FORMATS."""
    if fmt not in _READERS:
        raise FormatError(f"unknown import format {fmt!r}; use one of {', '.join(IMPORT_FORMATS)}")
    return _READERS[fmt](text)
