"""Gradio chat messages as text: their content is a string, a content part, or a list of parts."""
from __future__ import annotations


def message_text(content: object) -> str:
    """A chat message's text, whether Gradio gives it as a string or as a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list):
        return " ".join(message_text(part) for part in content)
    return ""
