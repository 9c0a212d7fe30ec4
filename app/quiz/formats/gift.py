"""GIFT, Moodle's text format for questions (docs.moodle.org/en/GIFT_format): write a bank, parse a file into BankItems.

No maintained GIFT library exists on PyPI (pygiftparser was last released in 2017), so this follows Moodle's own
reader (question/format/gift): blocks are separated by blank lines, `//` lines are comments, `$CATEGORY:` sets the
category of what follows, `::title::` names a question, and `\\~ \\= \\# \\{ \\} \\: \\\\ \\n` are escapes."""
from __future__ import annotations

import re

from app.quiz.formats.model import BankItem, ParsedBank, Skipped, by_lesson, choice_credit_problem, general_feedback, split_feedback
from core.quiz import QuizItem

# Characters GIFT reserves, escaped with a backslash; `\n` stands for a line break.
_RESERVED = "\\~=#{}:"
# While a block is parsed, each escaped character is a private-use character, so no marker is read inside text.
_HIDDEN = {char: chr(0xE000 + n) for n, char in enumerate(_RESERVED)}
_HIDDEN_NEWLINE = chr(0xE0FF)
_SHOWN = {hidden: char for char, hidden in _HIDDEN.items()} | {_HIDDEN_NEWLINE: "\n"}
_FORMAT_TAG = re.compile(r"^\[(html|moodle|plain|markdown)\]", re.IGNORECASE)
_TRUE_FALSE = re.compile(r"^(T|TRUE|F|FALSE)\s*(#|$)", re.IGNORECASE)
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
BLANK = "_____"


# ---------------------------------------------------------------- writing

def escape(text: str) -> str:
    """Text safe anywhere in a GIFT question: reserved characters escaped, line breaks as `\\n`."""
    out = "".join(f"\\{char}" if char in _RESERVED else char for char in text.replace("\r\n", "\n"))
    return out.replace("\n", "\\n")


def _question(item: QuizItem) -> str:
    feedback = f"####{escape(general_feedback(item))}"
    if item.type == "true_false":
        answers = ("TRUE" if item.answer == "True" else "FALSE") + feedback
    elif item.type == "multiple_choice":
        answers = " ".join(("=" if choice == item.answer else "~") + escape(choice) for choice in item.choices) + " " + feedback
    else:
        answers = f"={escape(item.answer)} {feedback}"
    return f"::{escape(item.id)}::[plain]{escape(item.question)} {{{answers}}}"


def write_gift(items: list[QuizItem]) -> str:
    """The bank as one GIFT file: a `$CATEGORY:` per lesson (the lesson file), then its questions, titled by id."""
    parts = ["// Course Guide quiz bank. Each question's general feedback names the passage to reread."]
    for lesson, questions in by_lesson(items).items():
        parts.append(f"$CATEGORY: {lesson}")
        parts.extend(_question(item) for item in questions)
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- reading

def _hide_escapes(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_HIDDEN_NEWLINE if following == "n" else _HIDDEN.get(following, "\\" + following))
        else:
            out.append(char)
    return "".join(out)


def _shown(text: str) -> str:
    """Hidden escapes back to the characters they stand for, whitespace trimmed."""
    return "".join(_SHOWN.get(char, char) for char in text).strip()


def _plain(text: str, markup: str) -> str:
    """Question text as plain text: tags dropped for [html] questions, and for [moodle]/[markdown] ones (GIFT's
    default is [moodle]) that hold HTML tags; [plain] text is kept as written."""
    if markup == "html" or (markup != "plain" and re.search(r"<(p|br|b|i|em|strong|span|div)\b", text, re.IGNORECASE)):
        from bs4 import BeautifulSoup

        text = BeautifulSoup(text, "html.parser").get_text(" ")
        text = re.sub(r"[ \t]+", " ", text)
    return text


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) per question block; comment lines dropped, a `$CATEGORY:` line is its own block."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if not stripped or stripped.upper().startswith("$CATEGORY:"):
            if current:
                blocks.append((start, current))
                current = []
            if stripped:
                blocks.append((number, [stripped]))
            continue
        if not current:
            start = number
        current.append(line)
    if current:
        blocks.append((start, current))
    return blocks


def _answers(text: str) -> list[tuple[str, float | None, str]]:
    """(answer text, weight or None, feedback) per `=`/`~` answer; `=` is full credit, `~` none unless `%n%` says."""
    found = []
    for part in re.split(r"(?=[=~])", text):
        if not part.strip():
            continue
        marker, rest = part[0], part[1:]
        weight: float | None = 100.0 if marker == "=" else 0.0
        match = _WEIGHT.match(rest.strip())
        if match:
            weight, rest = float(match.group(1)), rest.strip()[match.end():]
        answer, _, feedback = rest.partition("#")
        found.append((answer, weight, feedback))
    return found


def _block_item(lines: list[str], where: str, category: str | None) -> BankItem | Skipped:
    raw = _hide_escapes("\n".join(lines)).strip()
    title = None
    if raw.startswith("::") and "::" in raw[2:]:
        title, raw = raw[2:].split("::", 1)
        title = _shown(title) or None
        raw = raw.strip()
    markup = "moodle"
    if match := _FORMAT_TAG.match(raw):
        markup, raw = match.group(1).lower(), raw[match.end():]
    named = f"{where} ('{title}')" if title else where
    if "{" not in raw:
        return Skipped(named, "description", "it has no answers in { }, so there is nothing to ask; it was left out")
    opening, closing = raw.index("{"), raw.rfind("}")
    if closing < opening:
        return Skipped(named, "unreadable question", "the answers' { has no closing }; escape a literal brace as \\{ or \\}")
    before, answer_text, after = raw[:opening], raw[opening + 1:closing], raw[closing + 1:]
    if "{" in answer_text or "}" in after:
        return Skipped(named, "question with several blanks", "only one { } answer set per question can be carried")
    answer_text, _, general = answer_text.partition("####")
    answer_text = answer_text.strip()
    question = _plain(_shown(before) + (f" {BLANK} {_shown(after)}" if after.strip() else ""), markup).strip()
    explanation, lesson, section = split_feedback(_plain(_shown(general), markup))

    def item(kind: str, answer: str, choices: list[str], extra: str = "") -> BankItem:
        text = "\n".join(part for part in (explanation, extra) if part)
        return BankItem(type=kind, question=question, answer=answer, where=where, choices=choices, explanation=text,
                        id=title, category=category, lesson=lesson, section=section)

    if not question:
        return Skipped(named, "unreadable question", "the question text before { is empty")
    if not answer_text:
        return Skipped(named, "essay question", "free-text essays have no answer to grade")
    if answer_text.startswith("#"):
        return Skipped(named, "numerical question", "numeric answers with tolerances cannot be carried")
    if "~" not in answer_text and "=" in answer_text and "->" in answer_text:
        return Skipped(named, "matching question", "pairs to match cannot be carried")
    if "~" not in answer_text and "=" not in answer_text and _TRUE_FALSE.match(answer_text):
        truth = answer_text.split("#", 1)[0].strip().upper().startswith("T")
        return item("true_false", "True" if truth else "False", ["True", "False"])
    answers = [(_shown(text), weight, _shown(feedback)) for text, weight, feedback in _answers(answer_text)]
    if not answers or any(not text for text, _, _ in answers):
        return Skipped(named, "unreadable question", "an answer after = or ~ is empty")
    right = [text for text, weight, _ in answers if weight is not None and weight > 0]
    full = [text for text, weight, _ in answers if weight == 100.0]
    if "~" in answer_text:
        if problem := choice_credit_problem(len(full), len(right)):
            return Skipped(named, *problem)
        return item("multiple_choice", full[0], [text for text, _, _ in answers])
    if not full:
        return Skipped(named, "short-answer question", "no answer has full credit (= or %100%)")
    also = [text for text in right if text != full[0]]
    return item("short_answer", full[0], [], f"Also accepted: {'; '.join(also)}." if also else "")


def parse_gift(text: str) -> ParsedBank:
    """Every question of a GIFT file: the ones we can carry as BankItems (with their category), the rest as Skipped."""
    bank = ParsedBank()
    category: str | None = None
    for start, lines in _blocks(text):
        if len(lines) == 1 and lines[0].upper().startswith("$CATEGORY:"):
            category = lines[0].split(":", 1)[1].strip() or None
            continue
        bank.add(_block_item(lines, f"line {start}", category))
    return bank
