"""QTI 1.2 content package, the quiz format Canvas imports ("QTI .zip file"): one assessment per lesson, with imsmanifest.xml.

The items use Canvas's question types (multiple_choice_question, true_false_question, short_answer_question) in
itemmetadata, and the explanation with the passage to reread as general feedback shown after any answer."""
from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile
from xml.etree.ElementTree import Element, SubElement

from app.quiz.formats.model import by_lesson, general_feedback
from core.quiz import QuizItem

QTI_NAMESPACE = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
MANIFEST_NAMESPACE = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
QTI_RESOURCE_TYPE = "imsqti_xmlv1p2"
_CANVAS_TYPES = {"multiple_choice": "multiple_choice_question", "true_false": "true_false_question",
                 "short_answer": "short_answer_question"}


def ident(*parts: str) -> str:
    """A stable XML identifier (letters and digits, starting with a letter) for a lesson or an item."""
    return "g" + hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def _metadata(parent: Element, fields: dict[str, str]) -> None:
    meta = SubElement(parent, "qtimetadata")
    for label, entry in fields.items():
        field = SubElement(meta, "qtimetadatafield")
        SubElement(field, "fieldlabel").text = label
        SubElement(field, "fieldentry").text = entry


def _material(parent: Element, text: str) -> None:
    SubElement(SubElement(parent, "material"), "mattext", {"texttype": "text/plain"}).text = text


def _item(section: Element, item: QuizItem) -> None:
    node = SubElement(section, "item", {"ident": ident("item", item.id), "title": item.id})
    _metadata(SubElement(node, "itemmetadata"), {"question_type": _CANVAS_TYPES[item.type], "points_possible": "1.0"})
    presentation = SubElement(node, "presentation")
    _material(presentation, item.question)
    right: str
    if item.type == "short_answer":
        response = SubElement(presentation, "response_str", {"ident": "response1", "rcardinality": "Single"})
        SubElement(SubElement(response, "render_fib"), "response_label", {"ident": "answer1", "rshuffle": "No"})
        right = item.answer
    else:
        response = SubElement(presentation, "response_lid", {"ident": "response1", "rcardinality": "Single"})
        render = SubElement(response, "render_choice")
        labels = {choice: f"c{number}" for number, choice in enumerate(item.choices, start=1)}
        for choice, label in labels.items():
            _material(SubElement(render, "response_label", {"ident": label}), choice)
        right = labels[item.answer]
    processing = SubElement(node, "resprocessing")
    SubElement(SubElement(processing, "outcomes"), "decvar",
               {"maxvalue": "100", "minvalue": "0", "varname": "SCORE", "vartype": "Decimal"})
    general = SubElement(processing, "respcondition", {"continue": "Yes"})
    SubElement(SubElement(general, "conditionvar"), "other")
    SubElement(general, "displayfeedback", {"feedbacktype": "Response", "linkrefid": "general_fb"})
    correct = SubElement(processing, "respcondition", {"continue": "No"})
    SubElement(SubElement(correct, "conditionvar"), "varequal", {"respident": "response1"}).text = right
    SubElement(correct, "setvar", {"action": "Set", "varname": "SCORE"}).text = "100"
    feedback = SubElement(node, "itemfeedback", {"ident": "general_fb"})
    _material(SubElement(feedback, "flow_mat"), general_feedback(item))


def _assessment(lesson: str, items: list[QuizItem], assessment_id: str) -> bytes:
    root = Element("questestinterop", {"xmlns": QTI_NAMESPACE})
    assessment = SubElement(root, "assessment", {"ident": assessment_id, "title": f"Course Guide: {lesson}"})
    _metadata(assessment, {"cc_maxattempts": "1"})
    section = SubElement(assessment, "section", {"ident": "root_section"})
    for item in items:
        _item(section, item)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed date, so the same bank always gives the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_qti_zip(items: list[QuizItem]) -> bytes:
    """The bank as a QTI 1.2 zip: `<id>/<id>.xml` per lesson, each listed as a resource in imsmanifest.xml."""
    manifest = Element("manifest", {"identifier": ident("manifest", *sorted(i.id for i in items)), "xmlns": MANIFEST_NAMESPACE})
    metadata = SubElement(manifest, "metadata")
    SubElement(metadata, "schema").text = "IMS Content"
    SubElement(metadata, "schemaversion").text = "1.1.3"
    SubElement(manifest, "organizations")
    resources = SubElement(manifest, "resources")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for lesson, questions in by_lesson(items).items():
            assessment_id = ident("lesson", lesson)
            href = f"{assessment_id}/{assessment_id}.xml"
            package.writestr(_entry(href), _assessment(lesson, questions, assessment_id))
            resource = SubElement(resources, "resource", {"identifier": assessment_id, "type": QTI_RESOURCE_TYPE, "href": href})
            SubElement(resource, "file", {"href": href})
        ET.indent(manifest)
        package.writestr(_entry("imsmanifest.xml"), ET.tostring(manifest, encoding="utf-8", xml_declaration=True))
    return buffer.getvalue()
