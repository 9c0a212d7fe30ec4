"""Build the slide deck corpus/15-incident-response-for-ml.pptx.

The slides' text lives in this file: titles, bullets, one table and speaker notes, on python-pptx's
default template. Output is deterministic: the document dates are fixed and the zip is rewritten with
fixed entry times, so re-running produces the same bytes.

Usage:  python scripts/build_slide_deck.py [output.pptx]
Needs:  python-pptx (a dependency of the project).
"""

from __future__ import annotations

from pathlib import Path

from office_files import FIXED_TIME, reproducible, write_out
from pptx import Presentation
from pptx.util import Inches, Pt

TITLE = "Incident Response for ML Systems"
OUT = Path(__file__).resolve().parent.parent / "corpus" / "15-incident-response-for-ml.pptx"

# (title, bullets as (level, text), speaker notes)
SLIDES: list[tuple[str, list[tuple[int, str]], str]] = [
    (
        "What counts as an ML incident",
        [
            (0, "An ML incident is any event where a model's predictions harm users or the business, even while the service stays up."),
            (0, "Examples:"),
            (1, "a fraud model that suddenly blocks many legitimate payments"),
            (1, "a recommender that shows the same item to everyone"),
            (1, "a pricing model fed a broken feature after an upstream schema change"),
        ],
        "Most ML incidents are silent: there are no errors and no crashes, only wrong answers. "
        "That is why model monitoring, not only service monitoring, must be able to page someone.",
    ),
    (
        "Severity levels",
        [],  # the table slide
        "Agree on the severity levels before an incident happens, so nobody debates them at three in the morning.",
    ),
    (
        "The ML runbook",
        [
            (0, "A runbook is a written, step-by-step guide for the on-call engineer who handles a specific alert."),
            (0, "Every model alert links to its runbook."),
            (0, "Typical steps:"),
            (1, "confirm the alert on the monitoring dashboard"),
            (1, "check what changed recently: new data, a new model version, a new feature pipeline release"),
            (1, "decide between rolling back and switching to a fallback"),
            (1, "post a status update for the affected teams"),
        ],
        "A good runbook can be followed by an engineer who has never worked on this model. "
        "Test it in a game day, where the team rehearses an incident on purpose.",
    ),
    (
        "Rollback and fallbacks",
        [
            (0, "Roll back by pointing the production alias in the model registry back to the previous model version."),
            (0, "If no earlier version is safe, switch to a fallback, such as a simple rule-based system or a cached default prediction."),
            (0, "Pause automated retraining, so the continuous training pipeline does not promote a bad model again."),
        ],
        "Rollback is only fast if the previous model version is still deployable: keep its artifact, its "
        "environment and its feature definitions in the registry.",
    ),
    (
        "Blameless postmortems",
        [
            (0, "After a serious incident, write a postmortem within five working days."),
            (0, "Record the timeline, the impact, the root cause and follow-up actions, each with an owner."),
            (0, "A blameless postmortem looks for gaps in systems and processes, not for a person to blame."),
            (0, "Share it widely: the follow-up actions often add a missing monitor, test or runbook step."),
        ],
        "People report problems early only when they are not punished for them, which is the point of keeping postmortems blameless.",
    ),
]

SEVERITY_TABLE = [
    ("Severity", "Example", "Response"),
    ("SEV1", "The model causes direct harm or a large financial loss", "Page the on-call engineer now and roll back within the hour"),
    ("SEV2", "A clear quality drop for one customer segment", "Fix or roll back within one working day"),
    ("SEV3", "Minor drift with no user impact yet", "Open a ticket for the next sprint"),
]


def build() -> bytes:
    deck = Presentation()
    props = deck.core_properties
    props.title = TITLE
    props.author = "Course Guide"
    props.last_modified_by = "Course Guide"
    props.created = props.modified = FIXED_TIME
    props.revision = 1

    cover = deck.slides.add_slide(deck.slide_layouts[0])
    cover.shapes.title.text = TITLE
    cover.placeholders[1].text = "What to do when a model misbehaves in production"

    for title, bullets, notes in SLIDES:
        if not bullets:
            slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
            slide.shapes.title.text = title
            shape = slide.shapes.add_table(len(SEVERITY_TABLE), 3, Inches(0.5), Inches(1.8), Inches(9), Inches(3))
            for r, row in enumerate(SEVERITY_TABLE):
                for c, text in enumerate(row):
                    cell = shape.table.cell(r, c)
                    cell.text = text
                    cell.text_frame.paragraphs[0].font.size = Pt(16)
        else:
            slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
            slide.shapes.title.text = title
            body = slide.placeholders[1].text_frame
            for i, (level, text) in enumerate(bullets):
                paragraph = body.paragraphs[0] if i == 0 else body.add_paragraph()
                paragraph.text = text
                paragraph.level = level
                paragraph.font.size = Pt(20 if level == 0 else 18)
        slide.notes_slide.notes_text_frame.text = notes

    return reproducible(deck.save)


def main() -> None:
    write_out(build, OUT)


if __name__ == "__main__":
    main()
