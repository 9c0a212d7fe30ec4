"""Furniture of real course repositories (images, thumbnails, badges, call-outs, admonitions, quiz and link-only lines,
placeholders) is never a quotable sentence, on fixture lessons written in the style of public course repos."""
from __future__ import annotations

from pathlib import Path

import pytest

from core.furniture import furniture_kind, is_furniture
from core.text import split_sentences

MESSY = Path(__file__).parent / "fixtures" / "messy_course"
LESSONS = {path.parent.name: path.read_text(encoding="utf-8") for path in sorted(MESSY.glob("*/README.md"))}
ALL_TEXT = "\n\n".join(LESSONS.values())


def _line(fragment: str) -> str:
    """The fixture line holding `fragment` (so each case is a line a real lesson has)."""
    lines = [line for line in ALL_TEXT.splitlines() if fragment in line]
    assert lines, f"no fixture line holds {fragment!r}"
    return lines[0]


def _quotable(lesson: str) -> list[str]:
    return [s.text for s in split_sentences(LESSONS[lesson])]


@pytest.mark.parametrize(
    "fragment, kind",
    [
        ("![Summary of the history", "image"),
        ("![Infographic about linear regression]", "image"),
        ("[![History of machine learning]", "thumbnail"),
        ("[![Deploying a Flask app]", "thumbnail"),
        ("img.shields.io/github/license", "badge"),
        ("🎥 Click the image above", "callout"),
        ("✅ Think about which", "callout"),
        ("📝 Open the notebook", "callout"),
        ("✅ Try changing the form", "callout"),
        ("> [!NOTE]", "admonition"),
        ("> [!IMPORTANT]", "admonition"),
        ("(code block 3)", "placeholder"),
        ("Take the [post-lecture quiz]", "quiz"),
        ("[Post-lecture quiz](https://quiz-app", "quiz"),
        ("[Explore the history of a machine learning milestone]", "link"),
        ("> Sketchnote by", "credit"),
        ("> Infographic by", "credit"),
    ],
)
def test_each_kind_of_furniture_is_detected(fragment, kind):
    assert furniture_kind(_line(fragment)) == kind


@pytest.mark.parametrize(
    "line",
    [
        "The term machine learning was coined by Arthur Samuel in 1959, while he worked on a program that played checkers.",
        "Use `LinearRegression` from scikit-learn to fit a line through the prices.",
        "> The perceptron, an early neural network, was introduced by Frank Rosenblatt in 1958.",
        "Pandas reads the CSV file into a data frame, which is a table you can filter and group.",
        "To load the pumpkin data, use the following code:",
        "A quiz after each lesson helps learners remember what they read.",  # about quizzes, but prose
        "The chart shows a steady rise in prices in October.",
    ],
)
def test_prose_is_not_furniture(line):
    assert furniture_kind(line) is None


@pytest.mark.parametrize(
    "lesson, never",
    [
        ("1-Introduction", ["![", "[![", "shields.io", "🎥", "✅", "📝", "[!NOTE]", "[!IMPORTANT]", "quiz", "Sketchnote", "assignment.md"]),
        ("2-Regression", ["![", "[![", "🎥", "✅", "(code block", "[!TIP]", "quiz", "Infographic", "pd.read_csv"]),
        ("3-Web-App", ["![", "[![", "✅", "quiz", "python app.py"]),
    ],
)
def test_no_quotable_sentence_of_a_messy_lesson_is_furniture(lesson, never):
    quotable = _quotable(lesson)
    assert quotable
    for sentence in quotable:
        assert not any(mark.lower() in sentence.lower() for mark in never), sentence
        assert not sentence.startswith(">"), sentence


def test_blockquote_and_admonition_markers_are_cut_and_their_prose_kept():
    quotable = _quotable("1-Introduction")
    assert "The perceptron, an early neural network, was introduced by Frank Rosenblatt in 1958." in quotable
    assert "A model is only as good as the data it was trained on." in quotable


def test_an_image_inside_a_sentence_is_cut_from_the_quote_and_the_span_still_covers_it():
    passage = "Prices rise in autumn. The chart ![prices](./images/p.png) shows a steady rise in October."
    sentences = split_sentences(passage)
    assert [s.text for s in sentences] == ["Prices rise in autumn.", "The chart shows a steady rise in October."]
    assert passage[sentences[1].start : sentences[1].end] == "The chart ![prices](./images/p.png) shows a steady rise in October."


def test_a_wrapped_blockquote_paragraph_is_one_sentence_without_markers():
    passage = "> Gradient descent takes small steps\n> downhill on the loss surface.\n"
    [sentence] = split_sentences(passage)
    assert sentence.text == "Gradient descent takes small steps downhill on the loss surface."
    assert passage[sentence.start : sentence.end].endswith("surface.")


def test_furniture_is_kept_when_asked_for():
    """The LLM answer check splits generated text with keep_furniture, so it judges every line the model wrote."""
    texts = [s.text for s in split_sentences(LESSONS["2-Regression"], keep_furniture=True)]
    assert "(code block 3)" in texts and any(t.startswith("![Infographic") for t in texts)


@pytest.mark.parametrize(
    "line", ["The MLOps Tool Landscape Page 4", "Page 3 of 9", "Slide 7", "Course handout p. 12", "12 / 40"]
)
def test_a_pdf_or_slide_pages_running_header_or_number_is_furniture(line):
    assert is_furniture(line), line


@pytest.mark.parametrize(
    "line", ["See page 4 for the table of results that we made.", "We trained 4 models on one page of data."]
)
def test_a_sentence_that_mentions_a_page_is_prose(line):
    assert furniture_kind(line) is None


def test_a_running_header_inside_a_pdf_passage_is_never_quoted():
    passage = "Platforms remove a lot of integration work.\nThe MLOps Tool Landscape Page 4\nThey also tie you to one vendor."
    assert all("Page 4" not in s.text for s in split_sentences(passage)), [s.text for s in split_sentences(passage)]
