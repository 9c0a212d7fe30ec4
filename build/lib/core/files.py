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


def explain(err: ValidationError) -> str:
    """The first problem of a validation error in one line: "'question' must be text (got 42)"."""
    first = err.errors(include_url=False)[0]
    where = field_path(tuple(first.get("loc", ())))
    kind = first.get("type", "")
    got = first.get("input")
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    shown = json.dumps(got, ensure_ascii=False, default=str)[:60]
    return f"'{where}': {message} (got {shown})" if where else f"{message} (got {shown})"


def parse_line(model: type[BaseModel], line: JsonLine) -> tuple[BaseModel | None, str | None]:
    """The line as `model`, or None and a one-line reason."""
    if line.error is not None:
        return None, line.error
    try:
        return model.model_validate(line.value), None
    except ValidationError as err:
        return None, explain(err)
