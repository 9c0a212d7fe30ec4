"""Build the Word handout corpus/17-postmortem-template.docx.

The handout text lives in this file: a title, headings, prose, bulleted lists and two tables, in
python-docx's default template. Output is deterministic: the document dates are fixed and the zip
is rewritten with fixed entry times, so re-running produces the same bytes.

Usage:  python scripts/build_word_handout.py [output.docx]
Needs:  python-docx (a dependency of the project).
"""

from __future__ import annotations

from pathlib import Path

import docx
from office_files import FIXED_TIME, reproducible, write_out

TITLE = "ML Incident Postmortem Template"
OUT = Path(__file__).resolve().parent.parent / "corpus" / "17-postmortem-template.docx"

# (heading, level, blocks); a block is a paragraph string, a list of bullet strings, or a table (list of rows).
SECTIONS: list[tuple[str, int, list]] = [
    ("How to use this template", 1, [
        "Copy this template for every SEV1 or SEV2 incident involving a model. The incident owner fills it in "
        "and the team reviews it together in a postmortem meeting.",
        ["Write facts with times and links to dashboards, not impressions.",
         "Keep the first draft short; the review adds detail.",
         "Store the finished document next to the model's entry in the model registry."],
    ]),
    ("Summary", 1, [
        "Two or three sentences: which model misbehaved, what users saw, how long it lasted and how it was "
        "resolved. Example: the fraud model version 14 declined 6 percent of legitimate card payments for 3 hours "
        "after a currency feature arrived in cents instead of euros; rolling back to version 13 ended the impact.",
    ]),
    ("Impact", 1, [
        "Quantify the harm in the units the business uses: affected users, wrong decisions, lost revenue, "
        "support tickets. Say how the numbers were measured and which data slices were hit hardest.",
    ]),
    ("Timeline", 1, [
        "List the key moments in UTC, from the first bad prediction to the all-clear. Detection time and "
        "mitigation time are the two numbers the follow-up actions should shrink.",
        [["Time (UTC)", "Event"],
         ["09:12", "Feature pipeline release changes the currency unit"],
         ["09:40", "Prediction distribution alert fires and pages the on-call engineer"],
         ["10:05", "On-call follows the runbook and confirms the feature values are off by a factor of 100"],
         ["12:10", "Production alias rolled back to the previous model version; decline rate recovers"]],
    ]),
    ("Root cause and contributing factors", 1, [
        "Ask why until you reach a cause in the system, not a person. Contributing factors are the conditions "
        "that let the cause do harm, such as a missing data validation check or an alert with no runbook.",
        ["Which change triggered the incident?",
         "Why did tests and data validation not catch it before release?",
         "Why did detection take as long as it did?"],
    ]),
    ("Follow-up actions", 1, [
        "Each action has one owner and a due date, and is tracked in the team's issue tracker like any other work.",
        [["Action", "Owner", "Due"],
         ["Add a schema and range check for currency features at the pipeline boundary", "Data engineering", "2 weeks"],
         ["Add the decline rate per slice to the golden set regression tests", "ML team", "1 month"],
         ["Link the prediction distribution alert to its runbook", "On-call lead", "1 week"]],
    ]),
    ("Lessons learned", 2, [
        ["What went well: the alert fired within half an hour and rollback worked first time.",
         "What went badly: nobody knew which team owned the currency feature.",
         "Where we got lucky: the incident began on a weekday morning, when the whole team was online."],
    ]),
]


def build() -> bytes:
    document = docx.Document()
    props = document.core_properties
    props.title = TITLE
    props.author = "Course Guide"
    props.last_modified_by = "Course Guide"
    props.created = props.modified = FIXED_TIME
    props.revision = 1

    document.add_paragraph(TITLE, style="Title")
    document.add_paragraph(
        "A postmortem is the written review of an incident: what happened, why, and what the team will change "
        "so that it does not happen again. This handout is the template the course uses for incidents caused by "
        "machine learning models; the incident response slides explain when to write one.")
    for heading, level, blocks in SECTIONS:
        document.add_heading(heading, level=level)
        for block in blocks:
            if isinstance(block, str):
                document.add_paragraph(block)
            elif isinstance(block[0], str):
                for item in block:
                    document.add_paragraph(item, style="List Bullet")
            else:
                table = document.add_table(rows=len(block), cols=len(block[0]))
                table.style = "Table Grid"
                for r, row in enumerate(block):
                    for c, text in enumerate(row):
                        table.cell(r, c).text = text

    return reproducible(document.save)


def main() -> None:
    write_out(build, OUT)


if __name__ == "__main__":
    main()
