"""The offline answerer on a course in the style of real public course repos (images, video thumbnails, badges,
emoji call-outs, admonitions, notebook placeholders, quiz links), with the real model: what it quotes holds up."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.engine.answer import answer_question
from app.engine.guide import Guide, open_guide
from core.citations import marked_stretches
from core.furniture import furniture_kind
from core.settings import Settings
from ingest.pipeline import ingest_corpus

MESSY = Path(__file__).parent / "fixtures" / "messy_course"

QUESTIONS = [
    "Who coined the term machine learning?",
    "Is there a video about the history of machine learning?",
    "Where is the pre-lecture quiz?",
    "What is supervised learning?",
    "What is the perceptron?",
    "How many rows does the pumpkin dataset have?",
    "How do I load the pumpkin data?",
    "Which class fits the regression model?",
    "What score does the model reach on the test set?",
    "How do I start the web app?",
    "When was the sample app deployed?",
    "Which lesson covers Flask?",
    "What is pickle used for?",
    "What does the infographic show?",
    "What is the license of the course?",
]


@pytest.fixture(scope="module")
def messy_guide(tmp_path_factory, embedder) -> Guide:
    root = tmp_path_factory.mktemp("messy")
    shutil.copytree(MESSY, root / "course")
    settings = Settings(corpus_dir=root / "course", db_dir=root / "index")
    ingest_corpus(settings, lambda: embedder)
    # Every question answered, none refused: the point is what gets quoted.
    return open_guide(settings.model_copy(update={"refusal_threshold": 0.0, "refusal_lexical_floor": 0.0}), embedder)


def _prose_lines(answer: str) -> list[str]:
    """The answer's lines outside quoted code blocks, markers and bullets kept off."""
    lines, in_code = [], False
    for line in answer.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code and line.strip():
            lines.append(line)
    return lines


@pytest.mark.parametrize("question", QUESTIONS)
def test_no_answer_quotes_furniture(messy_guide, question):
    answer = answer_question(messy_guide, question)
    assert not answer.refused
    claims = marked_stretches("\n".join(_prose_lines(answer.answer)))
    assert claims, answer.answer
    for claim in claims:
        assert furniture_kind(claim.text) is None, f"{claim.text!r} quoted for {question!r}"
        for mark in ("![", "[![", "[!NOTE]", "[!IMPORTANT]", "[!TIP]", "(code block", "🎥", "✅", "📝", "shields.io"):
            assert mark not in claim.text, f"{claim.text!r} quoted for {question!r}"
        assert not claim.text.startswith(">"), claim.text


def test_how_do_i_brings_the_code_after_the_lead_in(messy_guide):
    answer = answer_question(messy_guide, "How do I load the pumpkin data?")
    assert "To load the pumpkin data, use the following code: [1]" in answer.answer, answer.answer
    assert "```python\nimport pandas as pd\npumpkins = pd.read_csv('../data/US-pumpkins.csv')" in answer.answer


def test_which_lesson_covers_names_the_lesson_and_its_section(messy_guide):
    answer = answer_question(messy_guide, "Which lesson covers Flask?")
    first = answer.answer.splitlines()[0]
    assert first == "The lesson \u201cBuild a web app to use your model\u201d covers this, in the section \u201cServe the model with Flask\u201d. [1]"
    assert "Flask is a small web framework" in answer.answer
