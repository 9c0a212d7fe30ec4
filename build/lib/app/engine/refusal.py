"""The refusal: what a learner is told when the course does not cover a question, with the closest topics it does cover."""
from __future__ import annotations

from core.types import Answer, RetrievedChunk

REFUSAL_MESSAGE = "The course materials don't cover that question, so I can't answer it from the course."


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


def refusal(question: str, retrieved: list[RetrievedChunk]) -> Answer:
    topics = closest_topics(retrieved)
    text = REFUSAL_MESSAGE
    if topics:
        names = "; ".join(hit.chunk.location() for hit in topics)
        text += f" The closest topics the course does cover are: {names}."
    return Answer(question=question, answer=text, refused=True, citations=[], retrieved=retrieved)


