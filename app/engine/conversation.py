"""Follow-up questions: rewrite "what about its drawbacks?" into a question that stands alone, from the chat history."""
from __future__ import annotations

import re

from core.text import content_words

Message = dict[str, str]

DEFINITION_QUESTION = re.compile(
    r"^\s*(?:what\s+(?:is|are|does)|define|meaning of|what's)\s+(?:an?\s+|the\s+)?(.+?)\s*(?:mean)?\??\s*$", re.I
)
_QUESTION_LEAD = re.compile(
    r"^\s*(?:(?:what|how|why|when|where|which|who|can|could|should|would|do|does|did|is|are|was|were|will|tell me about|"
    r"explain|describe|define)\b\s*)+(?:(?:i|we|you|a|an|the|my|our)\b\s*)*",
    re.I,
)
# Words that refer back to something said before. 'that'/'this' only where they stand for a thing
# ("why does that matter?"), not where they introduce a clause ("an alternative that people like").
_BACK_REFERENCE = re.compile(
    r"\b(it's|its|it|they|them|their|these|those|(?:this|that)(?=\s+(?:is|are|was|does|do|did|matter|matters|mean|means|work|works|happen|help|helps)\b|\s*[?.!,]|$))\b",
    re.I,
)
# References that cannot be replaced by the topic in place ("the last one", "need one", "instead").
_OTHER_REFERENCE = re.compile(r"\b(?:one|ones|the (?:first|second|third|last|next|other|previous|former|latter)|instead|still|else)\b", re.I)
_FOLLOW_UP_OPENING = re.compile(r"^\s*(?:and|but|so|also|then|what about|how about|why)\b", re.I)
_VERB_AFTER_TOPIC = re.compile(r"\s+\b(?:does|do|did|is|are|was|were|can|could|should|would|will|mean|means|work|works|have|has)\b.*$", re.I)
# A follow-up names at most this many words of its own; more and it is a new question that happens to say "it".
_FOLLOW_UP_TOPIC_WORDS = 4
# Words that ask about an aspect of something rather than naming a topic ("its drawbacks", "an example").
_ASPECT_WORDS = frozenset(
    content_words(
        "example examples drawback drawbacks disadvantage disadvantages advantage advantages benefit benefits downside "
        "downsides pros cons difference different differ compare comparison matter matters important work works detail "
        "details else more why step steps problem problems risk risks alternative alternatives way ways another instead "
        "happen happens kind kinds type types help helps need needs purpose goal used mean better worse"
    )
)


def definition_target(question: str) -> str | None:
    """'What is data drift?' gives 'data drift'; other questions give None."""
    match = DEFINITION_QUESTION.match(question)
    return match.group(1).strip() if match else None


def topic_of(question: str) -> str:
    """The thing a question is about, in its own words: 'How is data drift detected?' gives 'data drift'."""
    target = definition_target(question)
    if target:
        return re.split(r"\s+mean\b", target, maxsplit=1, flags=re.I)[0]
    words = _VERB_AFTER_TOPIC.sub("", _QUESTION_LEAD.sub("", question.strip()).rstrip(" ?.!")).split()
    # 'data drift detected' -> 'data drift': a trailing participle is what is asked, not the topic.
    while len(words) > 1 and re.fullmatch(r"\w+(?:ed|ing)", words[-1], re.I):
        words.pop()
    return " ".join(words)


def is_follow_up(question: str, history: list[Message]) -> bool:
    """True when the question leans on the conversation: it refers back and names no topic of its own."""
    if not any(m["role"] == "user" for m in history):
        return False
    topic_words = [w for w in content_words(question) if w not in _ASPECT_WORDS]
    refers_back = bool(_BACK_REFERENCE.search(question) or _OTHER_REFERENCE.search(question))
    return (
        len(topic_words) <= 1
        or bool(_FOLLOW_UP_OPENING.match(question))
        or (refers_back and len(topic_words) <= _FOLLOW_UP_TOPIC_WORDS)
    )


def condense(question: str, history: list[Message]) -> str:
    """The question rewritten to stand alone, using the conversation's topic; unchanged if it already stands alone.

    A reference that cannot be replaced in place ("the last one") gets the topic added: "(about X)"."""
    if not is_follow_up(question, history):
        return question
    topic = current_topic(history)
    if not topic:
        return question
    replaced, count = _BACK_REFERENCE.subn(lambda m: _substitute(m.group(1), topic), question, count=1)
    return replaced if count else f"{question.rstrip()} (about {topic})"


_ABOUT = re.compile(r"\s*\(about (.+)\)\s*$")


def split_about(question: str) -> tuple[str, str]:
    """A condensed follow-up's own words and the topic condense() added: ("What's the catch?", "end-to-end ML
    platforms"); a question without "(about X)" has no topic of its own here: (question, "")."""
    match = _ABOUT.search(question)
    return (question[: match.start()], match.group(1)) if match else (question, "")


def current_topic(history: list[Message]) -> str:
    """The topic the conversation is on: that of the last user turn that named one (follow-ups keep the topic)."""
    topic = ""
    asked: list[Message] = []
    for message in history:
        if message["role"] != "user":
            continue
        if not is_follow_up(message["content"], asked):
            topic = topic_of(message["content"])
        asked.append(message)
    return topic


def _substitute(reference: str, topic: str) -> str:
    if reference.lower() in ("its", "their"):
        return f"{topic}'s" if not topic.endswith("s") else f"{topic}'"
    if reference.lower() == "it's":
        return f"{topic} is"
    return topic
