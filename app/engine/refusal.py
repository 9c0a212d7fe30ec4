"""The refusal: what a learner is told when the course does not cover a question, with the closest topics it does cover."""
from __future__ import annotations

from core.types import Answer, RetrievedChunk

REFUSAL_MESSAGE = "The course materials don't cover that question, so I can't answer it from the course."
# For a message that tries to change what the guide does (app.engine.scope.asks_to_override): no closest topics, since
# the course not covering it is not the reason.
OVERRIDE_MESSAGE = ("I only answer questions about the course, from the course's own text: I don't take new instructions "
                    "or write other kinds of text. Ask me about a topic of the course.")


def closest_topics(retrieved: list[RetrievedChunk], limit: int = 3) -> list[RetrievedChunk]:
    """The best passage of each of the nearest distinct sections."""
    seen: set[str] = set()
    topics: list[RetrievedChunk] = []
    for hit in retrieved:
        label = hit.chunk.location()
        if label not in seen:
            seen.add(label)
            topics.append(hit)
        if len(topics) == limit:
            break
    return topics


def refusal(question: str, retrieved: list[RetrievedChunk], overrides: bool = False) -> Answer:
    if overrides:
        return Answer(question=question, answer=OVERRIDE_MESSAGE, refused=True, citations=[], retrieved=retrieved)
    topics = closest_topics(retrieved)
    text = REFUSAL_MESSAGE
    if topics:
        names = "; ".join(hit.chunk.location() for hit in topics)
        text += f" The closest topics the course does cover are: {names}."
    return Answer(question=question, answer=text, refused=True, citations=[], retrieved=retrieved)


