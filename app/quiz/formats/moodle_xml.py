"""Moodle XML (docs.moodle.org/en/Moodle_XML_format): write a bank with a category per lesson, parse a file into BankItems.

Writing uses the standard library's ElementTree; reading goes through defusedxml, because an imported file comes from
anywhere and must not expand entity bombs or fetch external entities."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.etree.ElementTree import Element, SubElement

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from app.quiz.formats.model import (
    BankItem,
    FormatError,
    ParsedBank,
    Skipped,
    by_lesson,
    choice_credit_problem,
    general_feedback,
    split_feedback,
)
from core.quiz import QuizItem

# Moodle's category paths start at the course's top category.
CATEGORY_ROOT = "$course$/top/"
# Question types Moodle exports that our items cannot hold, in the words a teacher knows them by.
_UNSUPPORTED = {
    "numerical": "numerical question", "matching": "matching question", "essay": "essay question",
    "multianswer": "embedded answers (Cloze) question", "description": "description",
    "calculated": "calculated question", "calculatedsimple": "calculated question", "calculatedmulti": "calculated question",
    "ddwtos": "drag and drop into text question", "gapselect": "select missing words question",
    "ddimageortext": "drag and drop onto image question", "ddmarker": "drag and drop markers question",
    "randomsamatch": "random short-answer matching question", "ordering": "ordering question",
}


# ---------------------------------------------------------------- writing

def _text(parent: Element, tag: str, text: str, plain: bool = True) -> Element:
    node = SubElement(parent, tag, {"format": "plain_text"} if plain else {})
    SubElement(node, "text").text = text
    return node


def _question(quiz: Element, item: QuizItem) -> None:
    kind = {"multiple_choice": "multichoice", "true_false": "truefalse", "short_answer": "shortanswer"}[item.type]
    question = SubElement(quiz, "question", {"type": kind})
    SubElement(SubElement(question, "name"), "text").text = item.id
    _text(question, "questiontext", item.question)
    _text(question, "generalfeedback", general_feedback(item))
    SubElement(question, "defaultgrade").text = "1"
    SubElement(question, "penalty").text = "0.3333333"
    SubElement(question, "hidden").text = "0"
    SubElement(question, "idnumber").text = item.id
    if item.type == "multiple_choice":
        SubElement(question, "single").text = "true"
        SubElement(question, "shuffleanswers").text = "true"
        SubElement(question, "answernumbering").text = "ABCD"
        answers = [(choice, choice == item.answer) for choice in item.choices]
    elif item.type == "true_false":
        answers = [("true", item.answer == "True"), ("false", item.answer == "False")]
    else:
        SubElement(question, "usecase").text = "0"
        answers = [(item.answer, True)]
    for text, right in answers:
        answer = SubElement(question, "answer", {"fraction": "100" if right else "0", "format": "plain_text"})
        SubElement(answer, "text").text = text
        _text(answer, "feedback", "")


def write_moodle_xml(items: list[QuizItem]) -> bytes:
    """The bank as a Moodle XML quiz: a category question per lesson (`$course$/top/<lesson file>`), then its questions."""
    quiz = Element("quiz")
    for lesson, questions in by_lesson(items).items():
        category = SubElement(quiz, "question", {"type": "category"})
        SubElement(SubElement(category, "category"), "text").text = CATEGORY_ROOT + lesson
        for item in questions:
            _question(quiz, item)
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n"


# ---------------------------------------------------------------- reading

def _field(node: Element | None, tag: str) -> tuple[str, bool]:
    """(text of `tag`'s <text>, whether it is HTML) under node; Moodle's default format is HTML."""
    found = node.find(tag) if node is not None else None
    if found is None:
        return "", False
    return (found.findtext("text") or "").strip(), found.get("format", "html") in ("html", "moodle_auto_format", "markdown")


def _plain(text: str, html: bool) -> str:
    if not html:
        return text.strip()
    from bs4 import BeautifulSoup

    return re.sub(r"[ \t]+", " ", BeautifulSoup(text, "html.parser").get_text(" ")).strip()


def _fraction(answer: Element) -> float:
    try:
        return float(answer.get("fraction", "0"))
    except ValueError:
        return 0.0


def _read_question(node: Element, where: str, category: str | None) -> BankItem | Skipped:
    kind = node.get("type", "")
    name = (node.findtext("name/text") or "").strip()
    named = f"{where} ('{name}')" if name else where
    if kind in _UNSUPPORTED:
        return Skipped(named, _UNSUPPORTED[kind], "our quiz items are multiple choice, true/false or short answer only")
    if kind not in ("multichoice", "truefalse", "shortanswer"):
        return Skipped(named, f"{kind or 'untyped'} question", "not a question type Course Guide can carry")
    raw_question, html = _field(node, "questiontext")
    if html and re.search(r"<img\b", raw_question, re.IGNORECASE):
        return Skipped(named, f"{kind} question with an image", "images in question text are not carried")
    question = _plain(raw_question, html)
    if not question:
        return Skipped(named, f"{kind} question", "its question text is empty")
    explanation, lesson, section = split_feedback(_plain(*_field(node, "generalfeedback")))
    answers = [(_plain((a.findtext("text") or ""), a.get("format", "html") != "plain_text"), _fraction(a)) for a in node.findall("answer")]
    full = [text for text, fraction in answers if fraction >= 100]
    right = [text for text, fraction in answers if fraction > 0]
    item_id = (node.findtext("idnumber") or "").strip() or name or None

    def item(type_: str, answer: str, choices: list[str], extra: str = "") -> BankItem:
        text = "\n".join(part for part in (explanation, extra) if part)
        return BankItem(type=type_, question=question, answer=answer, where=where, choices=choices, explanation=text,
                        id=item_id, category=category, lesson=lesson, section=section)

    if kind == "truefalse":
        if len(full) != 1 or full[0].lower() not in ("true", "false"):
            return Skipped(named, "truefalse question", "it needs one answer 'true' or 'false' with fraction 100")
        return item("true_false", "True" if full[0].lower() == "true" else "False", ["True", "False"])
    if kind == "multichoice":
        single = (node.findtext("single") or "true").strip().lower() in ("true", "1")
        if problem := choice_credit_problem(len(full), len(right), single):
            return Skipped(named, *problem)
        if any(not text for text, _ in answers):
            return Skipped(named, "multichoice question", "one of its answers is empty")
        return item("multiple_choice", full[0], [text for text, _ in answers])
    if not full or not full[0]:
        return Skipped(named, "shortanswer question", "no answer has fraction 100")
    also = [text for text in right if text != full[0] and text]
    return item("short_answer", full[0], [], f"Also accepted: {'; '.join(also)}." if also else "")


def parse_moodle_xml(text: str) -> ParsedBank:
    """Every question of a Moodle XML file, by position ("question 3"); FormatError if it is not a Moodle XML quiz."""
    try:
        root = SafeET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as err:
        raise FormatError(f"is not well-formed XML ({err}); export it again from Moodle as 'Moodle XML format'") from None
    except DefusedXmlException as err:
        raise FormatError(f"uses XML features an import refuses ({type(err).__name__}); export it again as plain Moodle XML") from None
    if root.tag != "quiz":
        raise FormatError(f"is XML but not a Moodle XML quiz (its root is <{root.tag}>, not <quiz>)")
    bank = ParsedBank()
    category: str | None = None
    for number, node in enumerate(root.findall("question"), start=1):
        if node.get("type") == "category":
            category = (node.findtext("category/text") or "").strip() or None
            continue
        bank.add(_read_question(node, f"question {number}", category))
    return bank
