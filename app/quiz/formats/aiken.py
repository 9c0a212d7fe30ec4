"""Aiken, Moodle's simplest text format (docs.moodle.org/en/Aiken_format): multiple-choice questions only, parsed into BankItems.

A question is one line, then its choices `A.` or `A)` one per line, then `ANSWER: X`; blank lines between questions are optional.
There is no category, title or feedback, so every item's lesson comes from `--lesson`."""
from __future__ import annotations

import re

from app.quiz.formats.model import BankItem, ParsedBank, Skipped

_CHOICE = re.compile(r"^([A-Z])[.)]\s+(.*\S)\s*$")
_ANSWER = re.compile(r"^ANSWER:\s*(\S*)\s*$", re.IGNORECASE)


def parse_aiken(text: str) -> ParsedBank:
    """Each question as a multiple-choice BankItem; a malformed one is Skipped with its line and what is wrong."""
    bank = ParsedBank()
    question: str | None = None
    start = 0
    choices: list[tuple[str, str]] = []
    # After a broken question, its remaining lines are passed over up to its ANSWER: line or a blank line.
    recovering = False

    def skip(reason: str) -> None:
        nonlocal question, recovering
        bank.skipped.append(Skipped(f"line {start}", "unreadable Aiken question", reason))
        question, recovering = None, True

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            recovering = False
            continue
        if question is None:
            if recovering:
                recovering = not _ANSWER.match(line)
                continue
            if _ANSWER.match(line) or _CHOICE.match(line):
                start = number
                skip("a choice or ANSWER: line comes before any question text")
                continue
            question, start, choices = line, number, []
            continue
        if match := _CHOICE.match(line):
            letter = match.group(1)
            if letter != chr(ord("A") + len(choices)):
                skip(f"choice {letter} is out of order; letter the choices A, B, C, … in turn")
                continue
            choices.append((letter, match.group(2)))
            continue
        if match := _ANSWER.match(line):
            letter = match.group(1).upper()
            given = dict(choices)
            if len(choices) < 2:
                skip("it needs at least two choices (A. …, B. …) before ANSWER:")
            elif letter not in given:
                skip(f"ANSWER: {match.group(1) or '(empty)'} is not one of its choices {', '.join(given)}")
            else:
                bank.items.append(BankItem(type="multiple_choice", question=question, answer=given[letter],
                                           where=f"line {start}", choices=[text for _, text in choices]))
                question = None
                continue
            recovering = False
            continue
        if not choices:
            # Moodle's Aiken reader takes the question as one line; a second line before the choices is not Aiken.
            skip(f"line {number} is neither a choice (A. …) nor ANSWER: — a question must fit on one line")
        else:
            skip(f"line {number} is neither a choice (A. …) nor ANSWER:")
    if question is not None:
        skip("it has no ANSWER: line")
    return bank
