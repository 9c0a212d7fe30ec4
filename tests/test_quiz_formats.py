"""Quiz banks in other platforms' formats: GIFT, Aiken and Moodle XML parsers on samples written from Moodle's docs,
the QTI 1.2 zip for Canvas, export-then-import round trips through ingest's own validation, and the CLI."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from app.cli.main import main
from app.quiz.bank import course_items
from app.quiz.formats import FormatError, export_bank, guess_format, parse_bank
from app.quiz.formats.aiken import parse_aiken
from app.quiz.formats.gift import escape, parse_gift, write_gift
from app.quiz.formats.model import BankItem, ParsedBank
from app.quiz.formats.moodle_xml import parse_moodle_xml, write_moodle_xml
from app.quiz.formats.qti import QTI_NAMESPACE, write_qti_zip
from app.quiz.formats.quiz_file import ImportProblem, quiz_file
from core.quiz import QuizItem
from core.settings import Settings
from core.types import Chunk
from ingest.quizzes import load_quiz_file

FIELDS = ("id", "type", "question", "choices", "answer", "explanation", "source", "section")


def chunk(source: str, section: str, text: str, ordinal: int = 0) -> Chunk:
    return Chunk(id=Chunk.make_id(source, section, None, text), text=text, source=source, title=source, section=section,
                 anchor=None, page=None, ordinal=ordinal, file_sha="0" * 64)


# A two-lesson course for the tests that need no model: ingest's validation only needs the chunks of each lesson.
LESSON_CHUNKS = {
    "09-model-monitoring.md": [
        chunk("09-model-monitoring.md", "Model Monitoring > Kinds of drift",
              "Data drift is a change in the input distribution. Concept drift is a change in the relationship to the target.", 0),
        chunk("09-model-monitoring.md", "Model Monitoring > Population Stability Index (PSI)",
              "PSI compares two distributions; above 0.25 is a significant shift.", 1),
    ],
    "notes/02-stars.txt": [
        chunk("notes/02-stars.txt", "Stars", "Grant's tomb holds Ulysses S. Grant and his wife. Stars are balls of plasma.", 0),
    ],
}


def written_quiz_file(tmp_path: Path, result, chunks_by_source=LESSON_CHUNKS) -> tuple[list[QuizItem], list]:
    """The quiz file `result` writes, read back by ingest's own loader (the course's chunks as the index)."""
    path = tmp_path / "quizzes" / "imported.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.to_yaml("test"), encoding="utf-8")
    return load_quiz_file(path, "quizzes/imported.yaml", chunks_by_source, set())


def item(id: str, type: str, question: str, answer: str, choices: list[str] | None = None,
         source: str = "09-model-monitoring.md", section: str = "Model Monitoring > Kinds of drift",
         explanation: str = "Because the lesson says so.") -> QuizItem:
    return QuizItem(id=id, type=type, question=question, answer=answer, explanation=explanation, source=source,
                    section=section, chunk_id="c", origin="instructor", choices=choices or ([] if type == "short_answer" else ["True", "False"]))


# Items whose text uses every character GIFT and XML reserve, across two lessons (one in a subfolder).
TRICKY_ITEMS = [
    item("drift-kind", "multiple_choice", "Which drift is P(y|X) = changed? {#1} a:b ~ c",
         "Concept drift", ["Data drift", "Concept drift", "Label = drift ~ #2", "{Prediction} drift: the outputs"]),
    item("psi-rule", "true_false", "PSI > 0.25 means a \\significant\\ shift & <more> \"quoted\".", "True",
         section="Model Monitoring > Population Stability Index (PSI)", explanation="Line one.\nLine two: with a colon."),
    item("psi-false", "true_false", "PSI is always 0.", "False", section="Model Monitoring > Population Stability Index (PSI)"),
    item("grant-tomb", "short_answer", "Who is buried in Grant's tomb?", "Ulysses S. Grant and his wife, Julia",
         source="notes/02-stars.txt", section="Stars", explanation="Both lie there; see the #1 {fact}."),
]


# ---------------------------------------------------------------- GIFT, from docs.moodle.org/en/GIFT_format

GIFT_DOCS_SAMPLE = r"""// question: 1 name: Grant's tomb
// Samples from the GIFT format page of the Moodle docs.
$CATEGORY: $course$/top/Week 1/09-model-monitoring.md

::Q1:: 1+1=2 {T}

::Q2:: What's between orange and green in the spectrum?
{ =yellow # right; good! ~red # wrong, it's yellow ~blue # wrong, it's yellow }

::Q3:: Two plus {=two =2} equals four.

::Q4:: Which animal eats which food? { =cat -> cat food =dog -> dog food }

::Q5:: What is a number from 1 to 5? {#3:2}

::Q7:: When was Ulysses S. Grant born? {#
         =1822:0      # Correct! Full credit.
         =%50%1822:2  # He was born in 1822. Half credit for being close.
}

::Q8:: How are you? {}

$CATEGORY: notes/02-stars.txt

What two people are entombed in Grant's tomb? {
   ~%-100%No one
   ~%50%Grant
   ~%50%Grant's wife
   ~%-100%Grant's father
}

Difficult multiple choice question.{=correct answer ~%50%answer that gives half the credit}

Grant is {~buried =entombed ~living} in Grant's tomb.

Grant was buried in a tomb in New York City.{F#Wrong: he was.#Right.####He is buried in New York City.}

::Colon escape::[markdown]Which answer equals 5\: a \{braced\} \~ \= \# test? {
   ~ \= 2 + 2
   = \= 2 + 3
   ~ \= 2 + 4  }

This line is a description with no answers.
"""


def test_gift_docs_sample_reads_what_we_carry_and_names_the_rest():
    bank = parse_gift(GIFT_DOCS_SAMPLE)
    by_id = {i.id or i.question: i for i in bank.items}
    assert by_id["Q1"].type == "true_false" and by_id["Q1"].answer == "True" and by_id["Q1"].question == "1+1=2"
    assert by_id["Q1"].category == "$course$/top/Week 1/09-model-monitoring.md"
    assert by_id["Q2"].type == "multiple_choice" and by_id["Q2"].choices == ["yellow", "red", "blue"]
    assert by_id["Q2"].answer == "yellow", "per-answer feedback after # is not part of the choice"
    assert by_id["Q3"].type == "short_answer" and by_id["Q3"].question == "Two plus _____ equals four."
    assert by_id["Q3"].answer == "two" and "Also accepted: 2." in by_id["Q3"].explanation
    missing_word = by_id["Grant is _____ in Grant's tomb."]
    assert missing_word.choices == ["buried", "entombed", "living"] and missing_word.answer == "entombed"
    assert missing_word.category == "notes/02-stars.txt"
    tomb = by_id["Grant was buried in a tomb in New York City."]
    assert tomb.answer == "False" and tomb.explanation == "He is buried in New York City."
    escaped = by_id["Colon escape"]
    assert escaped.question == "Which answer equals 5: a {braced} ~ = # test?"
    assert escaped.choices == ["= 2 + 2", "= 2 + 3", "= 2 + 4"] and escaped.answer == "= 2 + 3"
    skipped = {s.where: s.kind for s in bank.skipped}
    assert skipped == {
        "line 12 ('Q4')": "matching question",
        "line 14 ('Q5')": "numerical question",
        "line 16 ('Q7')": "numerical question",
        "line 21 ('Q8')": "essay question",
        "line 25": "multiple-answer question",
        "line 32": "multiple choice with partial credit",
        "line 43": "description",
    }, bank.skipped
    assert len(bank.items) == 6


def test_gift_comments_formats_and_html_are_read_as_plain_text():
    bank = parse_gift("// a comment {=not a question}\n::t1::[html]<p>What is <b>PSI</b>?</p>{=A stability index}\n\n"
                      "::t2::[plain]Is <b> kept as text? {TRUE}\n")
    assert [i.id for i in bank.items] == ["t1", "t2"] and not bank.skipped
    assert bank.items[0].question == "What is PSI ?" or bank.items[0].question == "What is PSI?"
    assert bank.items[1].question == "Is <b> kept as text?"


def test_gift_written_escapes_read_back_exactly():
    for text in ["a ~ b = c # d { e } f : g \\ h", "two\nlines", "::not a title::", "ends with \\"]:
        bank = parse_gift(f"::t::{escape(text)} {{={escape(text)}}}")
        assert bank.items[0].question == text.strip() and bank.items[0].answer == text.strip(), text


def test_gift_unclosed_brace_is_reported_not_mangled():
    bank = parse_gift("::broken:: What is 2+2? {=4\n\n::fine:: Is 1 one? {T}")
    assert [i.id for i in bank.items] == ["fine"]
    assert bank.skipped[0].where == "line 1 ('broken')" and "closing }" in bank.skipped[0].reason


def test_gift_export_has_a_category_per_lesson_titles_and_reread_feedback():
    text = write_gift(TRICKY_ITEMS)
    assert text.count("$CATEGORY:") == 2 and "$CATEGORY: 09-model-monitoring.md" in text and "$CATEGORY: notes/02-stars.txt" in text
    assert "::drift-kind::" in text
    assert "####Because the lesson says so.\\nReread\\: 09-model-monitoring.md > Model Monitoring > Kinds of drift" in text


# ---------------------------------------------------------------- Aiken, from docs.moodle.org/en/Aiken_format

AIKEN_DOCS_SAMPLE = """What is the correct answer to this question?
A. Is it this one?
B. Maybe this answer?
C. Possibly this one?
D. Must be this one!
ANSWER: D

Which LMS has the most quiz question types?
A) Moodle
B) ATutor
C) Claroline
D) Blackboard
E) WebCT
F) Ilias
ANSWER: A

A question with one choice only
A. The only one
ANSWER: A

A question whose answer is not a choice
A. Yes
B. No
ANSWER: C

A question with no answer line
A. One
B. Two
"""


def test_aiken_docs_sample_and_malformed_questions_by_line():
    bank = parse_aiken(AIKEN_DOCS_SAMPLE)
    assert [(i.question, i.answer, len(i.choices), i.where) for i in bank.items] == [
        ("What is the correct answer to this question?", "Must be this one!", 4, "line 1"),
        ("Which LMS has the most quiz question types?", "Moodle", 6, "line 8"),
    ]
    assert all(i.type == "multiple_choice" and i.category is None for i in bank.items)
    assert [(s.where, s.reason) for s in bank.skipped] == [
        ("line 17", "it needs at least two choices (A. …, B. …) before ANSWER:"),
        ("line 21", "ANSWER: C is not one of its choices A, B"),
        ("line 26", "it has no ANSWER: line"),
    ]


def test_aiken_question_over_two_lines_is_reported_and_the_next_one_read():
    bank = parse_aiken("First line of a question\nsecond line\nA. x\nB. y\nANSWER: A\n\nGood one?\nA. yes\nB. no\nANSWER: B\n")
    assert [i.question for i in bank.items] == ["Good one?"]
    assert bank.skipped[0].where == "line 1" and "must fit on one line" in bank.skipped[0].reason


# ---------------------------------------------------------------- Moodle XML, from docs.moodle.org/en/Moodle_XML_format

MOODLE_XML_SAMPLE = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/Default for MLOps/09-model-monitoring.md</text></category></question>
  <question type="multichoice">
    <name><text>drift-kind</text></name>
    <questiontext format="html"><text><![CDATA[<p>Which drift is a change in <b>P(y|X)</b>?</p>]]></text></questiontext>
    <generalfeedback format="html"><text><![CDATA[<p>The target relationship changed.</p>]]></text></generalfeedback>
    <single>true</single>
    <answer fraction="100"><text>Concept drift</text></answer>
    <answer fraction="0"><text>Data drift</text></answer>
    <answer fraction="0"><text>Label drift</text></answer>
  </question>
  <question type="truefalse">
    <name><text>psi</text></name>
    <questiontext format="plain_text"><text>PSI above 0.25 is a significant shift.</text></questiontext>
    <answer fraction="100"><text>true</text></answer>
    <answer fraction="0"><text>false</text></answer>
  </question>
  <question type="shortanswer">
    <name><text>drift-name</text></name>
    <questiontext format="plain_text"><text>What is a change in P(X) called?</text></questiontext>
    <answer fraction="100"><text>Data drift</text></answer>
    <answer fraction="100"><text>Covariate shift</text></answer>
    <answer fraction="50"><text>drift</text></answer>
  </question>
  <question type="multichoice">
    <name><text>two right</text></name>
    <questiontext><text>Pick the drift kinds.</text></questiontext>
    <single>false</single>
    <answer fraction="50"><text>Data drift</text></answer>
    <answer fraction="50"><text>Concept drift</text></answer>
    <answer fraction="-100"><text>Lunch</text></answer>
  </question>
  <question type="numerical"><name><text>number</text></name><questiontext><text>2+2?</text></questiontext>
    <answer fraction="100"><text>4</text><tolerance>0</tolerance></answer></question>
  <question type="matching"><name><text>pairs</text></name><questiontext><text>Match.</text></questiontext></question>
  <question type="essay"><name><text>essay</text></name><questiontext><text>Discuss.</text></questiontext></question>
  <question type="multianswer"><name><text>cloze</text></name>
    <questiontext><text>{1:SHORTANSWER:=a} and {1:SHORTANSWER:=b}</text></questiontext></question>
  <question type="multichoice">
    <name><text>picture</text></name>
    <questiontext format="html"><text><![CDATA[<p>Which chart?</p><img src="@@PLUGINFILE@@/chart.png">]]></text></questiontext>
    <answer fraction="100"><text>A</text></answer><answer fraction="0"><text>B</text></answer>
  </question>
</quiz>
"""


def test_moodle_xml_sample_reads_what_we_carry_and_names_the_rest():
    bank = parse_moodle_xml(MOODLE_XML_SAMPLE)
    assert [(i.id, i.type, i.answer) for i in bank.items] == [
        ("drift-kind", "multiple_choice", "Concept drift"), ("psi", "true_false", "True"), ("drift-name", "short_answer", "Data drift")]
    drift = bank.items[0]
    assert drift.question == "Which drift is a change in P(y|X) ?" or drift.question == "Which drift is a change in P(y|X)?"
    assert drift.explanation == "The target relationship changed." and drift.choices == ["Concept drift", "Data drift", "Label drift"]
    assert drift.category == "$course$/top/Default for MLOps/09-model-monitoring.md"
    assert "Also accepted: Covariate shift; drift." in bank.items[2].explanation
    assert [(s.where, s.kind) for s in bank.skipped] == [
        ("question 5 ('two right')", "multiple-answer question"),
        ("question 6 ('number')", "numerical question"),
        ("question 7 ('pairs')", "matching question"),
        ("question 8 ('essay')", "essay question"),
        ("question 9 ('cloze')", "embedded answers (Cloze) question"),
        ("question 10 ('picture')", "multichoice question with an image"),
    ]


@pytest.mark.parametrize("name, text, says", [
    ("not xml", "this is not xml <quiz>", "is not well-formed XML"),
    ("truncated", "<quiz><question type='truefalse'>", "is not well-formed XML"),
    ("another root", "<questestinterop/>", "not a Moodle XML quiz"),
    ("entity bomb", '<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><quiz>&b;</quiz>',
     "refuses"),
])
def test_bad_moodle_xml_is_one_clear_error(name, text, says):
    with pytest.raises(FormatError) as err:
        parse_moodle_xml(text)
    assert says in str(err.value), name


def test_guess_format_from_suffix_and_txt_content():
    assert guess_format(Path("bank.gift"), "") == "gift"
    assert guess_format(Path("bank.XML"), "") == "moodle-xml"
    assert guess_format(Path("moodle-export.txt"), "::a:: b {T}") == "gift"
    assert guess_format(Path("aiken.txt"), "Q?\nA. x\nB. y\nANSWER: A") == "aiken"
    with pytest.raises(FormatError, match="--format"):
        guess_format(Path("bank.docx"), "")
    with pytest.raises(FormatError, match="unknown import format"):
        parse_bank("", "csv")
    with pytest.raises(FormatError, match="unknown export format"):
        export_bank(TRICKY_ITEMS, "scorm")
    with pytest.raises(FormatError, match="bank is empty"):
        export_bank([], "gift")


# ---------------------------------------------------------------- into our quiz file, checked by ingest

@pytest.mark.parametrize("fmt", ["gift", "moodle-xml"])
def test_round_trip_of_tricky_items_through_ingest(fmt, tmp_path):
    exported = export_bank(TRICKY_ITEMS, fmt).decode("utf-8")
    bank = parse_bank(exported, fmt)
    assert not bank.skipped, bank.skipped
    loaded, problems = written_quiz_file(tmp_path, quiz_file(bank, LESSON_CHUNKS, None))
    assert not problems, [p.message() for p in problems]
    assert [[getattr(i, f) for f in FIELDS] for i in loaded] == [[getattr(i, f) for f in FIELDS] for i in TRICKY_ITEMS]


def test_import_puts_items_on_category_or_lesson_option_and_links_a_section(tmp_path):
    bank = parse_gift(GIFT_DOCS_SAMPLE)
    result = quiz_file(bank, LESSON_CHUNKS, None)
    loaded, problems = written_quiz_file(tmp_path, result)
    assert not problems and len(loaded) == 6
    by_question = {i.question: i for i in loaded}
    assert by_question["1+1=2"].source == "09-model-monitoring.md", "a category path ending in a lesson file names it"
    grant = by_question["Grant is _____ in Grant's tomb."]
    assert grant.source == "notes/02-stars.txt" and grant.section == "Stars"
    assert by_question["Two plus _____ equals four."].explanation == "Also accepted: 2."
    # No section in GIFT: the lesson's best-matching passage gives it.
    assert by_question["What's between orange and green in the spectrum?"].section.startswith("Model Monitoring > ")
    assert [i.id for i in loaded][:3] == ["Q1", "Q2", "Q3"]
    assert all(i.explanation for i in loaded), "ingest needs an explanation; a missing one points at the section"

    aiken = parse_aiken(AIKEN_DOCS_SAMPLE)
    with pytest.raises(ImportProblem) as err:
        quiz_file(aiken, LESSON_CHUNKS, None)
    assert "Item line 1 has no lesson" in str(err.value) and "--lesson" in str(err.value)
    with_lesson = quiz_file(aiken, LESSON_CHUNKS, "notes/02-stars.txt")
    loaded, problems = written_quiz_file(tmp_path, with_lesson)
    assert not problems and {i.source for i in loaded} == {"notes/02-stars.txt"}
    assert len({i.id for i in loaded}) == 2 and all(i.id.startswith("02-stars-") for i in loaded)
    with pytest.raises(ImportProblem, match="not a lesson of the course index"):
        quiz_file(aiken, LESSON_CHUNKS, "no-such-lesson.md")


def test_a_category_naming_no_lesson_is_an_error_naming_the_item_and_category():
    bank = parse_gift("$CATEGORY: $course$/top/Week 3\n\n::week3-q1:: Is it week 3? {T}\n")
    with pytest.raises(ImportProblem) as err:
        quiz_file(bank, LESSON_CHUNKS, None)
    assert "'week3-q1' (line 3)" in str(err.value) and "'$course$/top/Week 3' names no lesson" in str(err.value)
    assert quiz_file(bank, LESSON_CHUNKS, "09-model-monitoring.md").items[0]["lesson"] == "09-model-monitoring.md"


def test_items_ingest_would_reject_are_skipped_with_why_and_ids_stay_unique():
    seven = BankItem(type="multiple_choice", question="Pick one", answer="a", where="line 1", choices=list("abcdefg"))
    twice = BankItem(type="multiple_choice", question="Pick", answer="a", where="line 3", choices=["a", "A"])
    same_id = [BankItem(type="true_false", question=f"Q{n}?", answer="True", where=f"line {n}", id="dup") for n in (5, 7)]
    result = quiz_file(ParsedBank(items=[seven, twice, *same_id]), LESSON_CHUNKS, "09-model-monitoring.md", taken_ids={"dup-2"})
    assert [(s.where, s.reason) for s in result.skipped] == [
        ("line 1", "a multiple_choice item needs 'choices': a list of 2 to 6 answers"),
        ("line 3", "'choices' has the same choice twice"),
    ]
    assert [i["id"] for i in result.items] == ["dup", "dup-3"]


# ---------------------------------------------------------------- QTI 1.2 for Canvas

def check_qti_zip(data: bytes, items: list[QuizItem]) -> None:
    """Every file parses as XML, the manifest lists every assessment (and only files that exist), and every item is in one."""
    package = zipfile.ZipFile(io.BytesIO(data))
    assert package.testzip() is None
    names = set(package.namelist())
    trees = {name: ET.fromstring(package.read(name)) for name in names}
    manifest = trees["imsmanifest.xml"]
    ns = {"m": "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1", "q": QTI_NAMESPACE}
    listed = {f.get("href") for f in manifest.iterfind(".//m:resource/m:file", ns)}
    assert listed == names - {"imsmanifest.xml"}
    assert all(r.get("type") == "imsqti_xmlv1p2" for r in manifest.iterfind(".//m:resource", ns))
    found = {}
    for name in listed:
        for node in trees[name].iterfind(".//q:item", ns):
            found[node.get("title")] = (name, node)
    assert set(found) == {i.id for i in items}
    for quiz_item in items:
        name, node = found[quiz_item.id]
        kind = node.find(".//q:qtimetadatafield[q:fieldlabel='question_type']/q:fieldentry", ns)
        assert kind is not None and kind.text == {"multiple_choice": "multiple_choice_question",
                                                  "true_false": "true_false_question", "short_answer": "short_answer_question"}[quiz_item.type]
        assert node.findtext("q:presentation/q:material/q:mattext", namespaces=ns) == quiz_item.question
        right = node.findtext(".//q:respcondition[@continue='No']/q:conditionvar/q:varequal", namespaces=ns)
        labels = {lab.get("ident"): lab.findtext(".//q:mattext", namespaces=ns) for lab in node.iterfind(".//q:response_label", ns)}
        assert (labels[right] if quiz_item.type != "short_answer" else right) == quiz_item.answer
        if quiz_item.type != "short_answer":
            assert list(labels.values()) == quiz_item.choices
        feedback = node.findtext("q:itemfeedback/q:flow_mat/q:material/q:mattext", namespaces=ns)
        assert feedback.endswith(f"Reread: {quiz_item.source} > {quiz_item.section}")
        assert trees[name].find("q:assessment", ns).get("title") == f"Course Guide: {quiz_item.source}"


def test_qti_zip_is_well_formed_and_holds_every_item():
    data = write_qti_zip(TRICKY_ITEMS)
    check_qti_zip(data, TRICKY_ITEMS)
    assert len(zipfile.ZipFile(io.BytesIO(data)).namelist()) == 3, "a manifest and one assessment per lesson"
    assert write_qti_zip(TRICKY_ITEMS) == data, "the same bank gives the same bytes"


def test_moodle_xml_export_is_well_formed_with_a_category_per_lesson():
    root = ET.fromstring(write_moodle_xml(TRICKY_ITEMS))
    categories = [q.findtext("category/text") for q in root.iterfind("question[@type='category']")]
    assert categories == ["$course$/top/09-model-monitoring.md", "$course$/top/notes/02-stars.txt"]
    assert [q.get("type") for q in root.iterfind("question") if q.get("type") != "category"] == [
        "multichoice", "truefalse", "truefalse", "shortanswer"]


# ---------------------------------------------------------------- the shipped course's whole bank

@pytest.fixture(scope="module")
def shipped_bank(shipped_guide) -> list[QuizItem]:
    return list(course_items(shipped_guide).values())


def shipped_chunks(guide) -> dict[str, list[Chunk]]:
    chunks: dict[str, list[Chunk]] = {}
    for c in guide.index.chunks():
        chunks.setdefault(c.source, []).append(c)
    return chunks


@pytest.mark.parametrize("fmt", ["gift", "moodle-xml"])
def test_round_trip_of_the_shipped_bank(fmt, shipped_guide, shipped_bank, tmp_path):
    assert len(shipped_bank) > 100 and {i.origin for i in shipped_bank} == {"instructor", "generated"}
    bank = parse_bank(export_bank(shipped_bank, fmt).decode("utf-8"), fmt)
    assert not bank.skipped, bank.skipped[:3]
    chunks = shipped_chunks(shipped_guide)
    loaded, problems = written_quiz_file(tmp_path, quiz_file(bank, chunks, None), chunks)
    assert not problems, [p.message() for p in problems[:5]]
    original = {i.id: [getattr(i, f) for f in FIELDS] for i in shipped_bank}
    assert {i.id: [getattr(i, f) for f in FIELDS] for i in loaded} == original


def test_qti_zip_of_the_shipped_bank_holds_every_item(shipped_bank):
    check_qti_zip(export_bank(shipped_bank, "qti"), shipped_bank)


# ---------------------------------------------------------------- the CLI

def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_export_each_format_and_import_back(shipped_settings, shipped_bank, tmp_path):
    db = str(shipped_settings.db_dir)
    for fmt, name in (("gift", "bank.gift"), ("moodle-xml", "bank.xml"), ("qti", "bank.zip")):
        result = invoke("quiz", "export", "--db", db, "--format", fmt, "--out", str(tmp_path / name), "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) | {"out": ""} == {"out": "", "format": fmt, "items": len(shipped_bank), "lessons": len(
            {i.source for i in shipped_bank}), "instructor": 21, "generated": len(shipped_bank) - 21}
    check_qti_zip((tmp_path / "bank.zip").read_bytes(), shipped_bank)
    quizzes = tmp_path / "course" / "quizzes"
    result = invoke("quiz", "import", str(tmp_path / "bank.xml"), "--db", db, "--out", str(quizzes / "from-moodle.yaml"))
    assert result.exit_code == 0, result.output
    assert f"Imported {len(shipped_bank)} items from {tmp_path / 'bank.xml'} (moodle-xml)" in result.output
    assert "skipped 0." in result.output and "course-guide ingest" in result.output
    assert (quizzes / "from-moodle.yaml").read_text(encoding="utf-8").startswith("# Imported by `course-guide quiz import`")


def test_cli_import_reports_unsupported_questions_by_name_and_line(shipped_settings, tmp_path):
    source = tmp_path / "moodle-export.txt"
    source.write_text(GIFT_DOCS_SAMPLE, encoding="utf-8")
    out = tmp_path / "quizzes" / "docs.yaml"
    # The sample's second category names a lesson this course lacks, so its items take --lesson.
    result = invoke("quiz", "import", str(source), "--db", str(shipped_settings.db_dir), "--lesson", "09-model-monitoring.md",
                    "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Imported 6 items" in result.output and "(gift)" in result.output and "skipped 7:" in result.output
    assert "  line 12 ('Q4'): matching question: pairs to match cannot be carried" in result.output
    assert "  line 14 ('Q5'): numerical question:" in result.output and "line 21 ('Q8'): essay question" in result.output
    loaded, problems = written_quiz_file(tmp_path, _Reread(out), shipped_chunks_from(shipped_settings))
    assert not problems and len(loaded) == 6


class _Reread:
    """A written quiz file in the shape written_quiz_file takes."""

    def __init__(self, path: Path):
        self.path = path

    def to_yaml(self, origin: str) -> str:
        return self.path.read_text(encoding="utf-8")


def shipped_chunks_from(settings: Settings) -> dict[str, list[Chunk]]:
    from core.index import IndexReader, open_store

    reader = IndexReader(open_store(settings))
    reader.refresh()
    chunks: dict[str, list[Chunk]] = {}
    for c in reader.chunks():
        chunks.setdefault(c.source, []).append(c)
    return chunks


def test_cli_bad_inputs_each_get_one_clear_line(shipped_settings, tmp_path):
    db = str(shipped_settings.db_dir)
    gift = tmp_path / "bank.gift"
    gift.write_text("::q:: Is PSI a drift score? {T}\n", encoding="utf-8")
    existing = tmp_path / "quizzes" / "taken.yaml"
    existing.parent.mkdir()
    existing.write_text("items: []\n", encoding="utf-8")
    bad_xml = tmp_path / "broken.xml"
    bad_xml.write_text("<quiz><question type='truefalse'>", encoding="utf-8")
    binary = tmp_path / "binary.gift"
    binary.write_bytes(b"\xff\xfe\x00\x81 not utf-8")
    only_numeric = tmp_path / "numeric.gift"
    only_numeric.write_text("::n:: 2+2? {#4}\n", encoding="utf-8")
    out = str(tmp_path / "quizzes" / "new.yaml")
    cases = {
        "unknown export format": (["export", "--db", db, "--format", "scorm", "--out", str(tmp_path / "x")],
                                  2, "'scorm' is not one of 'gift', 'moodle-xml', 'qti'"),
        "unknown import format": (["import", str(gift), "--format", "csv", "--out", out], 2, "'csv' is not one of"),
        "suffix says no format": ([ "import", str(tmp_path / "quizzes" / "taken.yaml"), "--db", db, "--out", out],
                                  1, "cannot tell the format of taken.yaml from its name; pass --format gift|aiken|moodle-xml"),
        "unreadable file": (["import", str(tmp_path / "missing.gift"), "--db", db, "--out", out], 1,
                            f"Cannot read {tmp_path / 'missing.gift'} (No such file or directory)"),
        "not utf-8": (["import", str(binary), "--db", db, "--out", out], 1, "it is not UTF-8 text"),
        "bad xml": (["import", str(bad_xml), "--db", db, "--out", out], 1, f"{bad_xml} is not well-formed XML"),
        "import out exists": (["import", str(gift), "--db", db, "--lesson", "09-model-monitoring.md", "--out", str(existing)],
                              1, f"{existing} already exists; pass --force"),
        "export out exists": (["export", "--db", db, "--format", "gift", "--out", str(existing)], 1, "already exists"),
        "out not yaml": (["import", str(gift), "--db", db, "--out", str(tmp_path / "bank.json")], 1, "must end in .yaml or .yml"),
        "no lesson": (["import", str(gift), "--db", db, "--out", out], 1, "Item 'q' (line 1) has no lesson"),
        "unknown lesson": (["import", str(gift), "--db", db, "--lesson", "nope.md", "--out", out], 1, "not a lesson of the course index"),
        "nothing importable": (["import", str(only_numeric), "--db", db, "--out", out], 1,
                               "None of the 1 questions in"),
        "no index": (["import", str(gift), "--db", str(tmp_path / "no-index"), "--out", out], 1, "course-guide ingest"),
        "empty file": (["import", str(tmp_path / "empty.gift"), "--db", db, "--out", out], 1, "has no questions in gift format"),
    }
    (tmp_path / "empty.gift").write_text("// only a comment\n", encoding="utf-8")
    for name, (args, code, says) in cases.items():
        result = invoke("quiz", *args)
        assert result.exit_code == code, (name, result.output)
        assert says in result.output, (name, result.output)
        assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit), name
    assert existing.read_text(encoding="utf-8") == "items: []\n", "a refused --out is left as it was"
    assert not Path(out).exists(), "no failed import writes its --out"
    forced = invoke("quiz", "import", str(gift), "--db", db, "--lesson", "09-model-monitoring.md", "--out", str(existing), "--force")
    assert forced.exit_code == 0 and "Imported 1 items" in forced.output, forced.output


def test_cli_export_of_an_empty_bank_says_so(tmp_path, run_ingest):
    corpus = tmp_path / "course"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Notes\n\nWe meet on Tuesdays at noon in room 4, after lunch.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, db_dir=tmp_path / "index")
    run_ingest(settings)
    result = invoke("quiz", "export", "--db", str(settings.db_dir), "--format", "gift", "--out", str(tmp_path / "bank.gift"))
    assert result.exit_code == 1 and "Nothing to export: the course's item bank is empty" in result.output, result.output
    assert not (tmp_path / "bank.gift").exists()


def test_quiz_without_subcommand_still_lists_items_and_help_names_the_subcommands(shipped_settings):
    listed = invoke("quiz", "--db", str(shipped_settings.db_dir), "--n", "2", "--json")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 2, listed.output
    helped = invoke("quiz", "--help")
    assert "export" in helped.output and "import" in helped.output and "--topic" in helped.output


def test_console_script_exports_and_imports(shipped_settings, tmp_path):
    exe = Path(sys.executable).with_name("course-guide")
    out = tmp_path / "bank.gift"
    exported = subprocess.run([exe, "quiz", "export", "--db", str(shipped_settings.db_dir), "--format", "gift", "--out", str(out)],
                              capture_output=True, text=True, timeout=300)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("Wrote ") and "instructor" in exported.stdout and out.read_text(encoding="utf-8").count("$CATEGORY:") > 5
    imported = subprocess.run([exe, "quiz", "import", str(out), "--db", str(shipped_settings.db_dir),
                               "--out", str(tmp_path / "quizzes" / "bank.yaml"), "--json"],
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    assert report["format"] == "gift" and report["imported"] > 100 and report["skipped"] == []
    again = subprocess.run([exe, "quiz", "import", str(out), "--db", str(shipped_settings.db_dir),
                            "--out", str(tmp_path / "quizzes" / "bank.yaml")], capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "already exists; pass --force" in again.stderr and "Traceback" not in again.stderr
