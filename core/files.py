"""Files and lines that users write: one JSON-lines reader, and one renderer that turns a pydantic ValidationError
into a message naming the field and what is wrong with it (the caller adds the file and the line or item)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line of a JSON-lines input: its 1-based number, its text, and its value or why it is not JSON."""

    number: int
    text: str
    value: Any = None
    error: str | None = None


def json_lines(lines: Iterable[str]) -> Iterator[JsonLine]:
    """Every non-blank line, parsed; a line that is not JSON carries the parser's reason instead of a value."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        try:
            yield JsonLine(number, text, json.loads(text))
        except json.JSONDecodeError as err:
            yield JsonLine(number, text, error=f"not valid JSON ({err.msg} at column {err.colno})")
        except RecursionError:
            yield JsonLine(number, text, error="not valid JSON (nested too deeply)")


def field_path(location: tuple[int | str, ...]) -> str:
    """'sources[0].page' from pydantic's ('sources', 0, 'page')."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


# Pydantic's error types in words a course author reads: "'question' must be a string, not 42".
_MUST_BE = {
    "string_type": "must be a string", "int_type": "must be a whole number", "int_parsing": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "list_type": "must be a list", "dict_type": "must be a mapping",
    "model_type": "must be a mapping", "tuple_type": "must be a list",
}


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)[:60]


def explain(err: ValidationError) -> str:
    """What is wrong, in one line: missing and unknown fields together, else the first problem with its field.

    A validator's own message (a ValueError) is shown as it is written, so it can say what to do."""
    problems = err.errors(include_url=False)
    missing = [field_path(tuple(p["loc"])) for p in problems if p["type"] == "missing"]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    unknown = [field_path(tuple(p["loc"])) for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        return f"unknown field(s) {', '.join(unknown)}"
    first = problems[0]
    where = field_path(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    if kind == "value_error":
        return str(first.get("msg", "")).removeprefix("Value error, ")
    if kind in ("model_type", "dict_type") and not where:
        return f"expected a JSON object, got {type(first.get('input')).__name__}"
    wording = _MUST_BE.get(kind) or str(first.get("msg", "is not valid")).lower()
    if kind == "literal_error":
        wording = f"is {_shown(first.get('input'))}; it must be one of {first.get('ctx', {}).get('expected', '')}".replace("'", "")
        return f"'{where}' {wording}"
    return f"'{where}' {wording}, not {_shown(first.get('input'))}" if where else f"{wording}, not {_shown(first.get('input'))}"


def located(path: object, message: str, *, line: int | None = None, item: int | None = None) -> str:
    """The one way a problem in a user's file is named: `file:line: message` or `file: item N: message`."""
    if line is not None:
        return f"{path}:{line}: {message}"
    if item is not None:
        return f"{path}: item {item}: {message}"
    return f"{path}: {message}"


def parse_line(model: type[BaseModel], line: JsonLine) -> tuple[BaseModel | None, str | None]:
    """The line as `model`, or None and a one-line reason."""
    if line.error is not None:
        return None, line.error
    try:
        return model.model_validate(line.value), None
    except ValidationError as err:
        return None, explain(err)
