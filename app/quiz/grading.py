"""Grading a learner's reply to one quiz item: honest, offline, and deaf to replies that instruct the grader."""
from __future__ import annotations

import re

import numpy as np

from app.quiz.generate import coverage, normalised, plain
from core.model import TextEmbedder
from core.quiz import CHOICE_LETTERS, TRUE_FALSE_CHOICES, Grade, QuizItem
from core.text import STOPWORDS, content_words, normalise_space

# ---------------------------------------------------------------- grading

_NO_ANSWER = re.compile(
    r"^(?:i\s*(?:do\s*n[o']?t|don'?t|dont)\s*know|i\s*(?:have\s*)?no\s*idea|no\s*idea|idk|dunno|not\s*sure|pass|skip|"
    r"no\s*clue|i'?m\s*not\s*sure|\?+|-+|\.+|n/?a|none)\W*$",
    re.I,
)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:rules?|instructions?|prompt|above|previous|grading)\b"
    r"|\bmark\b.{0,30}\b(?:correct|right|full|pass(?:ed)?)\b|\b(?:give|award)\b.{0,20}\b(?:full|points?|marks?|credit)\b"
    r"|\b(?:you are now|system prompt|as the grader|grade (?:this|me) as|say (?:that )?(?:this|it) is correct)\b",
    re.I,
)
_TRUE = {"true", "t", "yes", "y", "correct", "right", "tru", "truth"}
_FALSE = {"false", "f", "no", "n", "wrong", "incorrect", "untrue", "fals"}
_NEGATIONS = {"not", "isn't", "isnt", "never"}


def _without_injection(reply: str) -> tuple[str, bool]:
    """The reply without sentences that try to instruct the grader, and whether there were any."""
    parts = re.split(r"(?<=[.!?;])\s+|\n+", reply)
    kept = [p for p in parts if not _INJECTION.search(p)]
    return " ".join(kept).strip(), len(kept) != len(parts)


def _choice_from_reply(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> str | None:
    """Which choice the reply picks: by letter, by its text, by true/false words, or by a close paraphrase; None if unclear."""
    text = reply.strip().lower()
    # True/false choices are not lettered on screen, so a lone 'b' there is no answer.
    letters = {CHOICE_LETTERS[i].lower(): c for i, c in enumerate(item.choices)} if item.type == "multiple_choice" else {}
    match = (
        re.fullmatch(r"[(\[]?([a-h])[)\].:]?", text)
        or re.match(r"^[(\[]?([a-h])[)\].:]\s+", text)
        or re.search(r"\b(?:option|answer|choice|letter)\s*(?:is\s*)?:?\s*[(\[]?([a-h])\b[)\].!]?\s*$", text)
    )
    if match and match.group(1) in letters:
        return letters[match.group(1)]
    if item.type == "true_false":
        words = re.findall(r"[a-z']+", text)
        values = set()
        for i, word in enumerate(words):
            if word in _TRUE or word in _FALSE:
                negated = any(w in _NEGATIONS for w in words[max(0, i - 2) : i])
                values.add((word in _TRUE) != negated)
        # Naming both ("true or false", "true, or maybe false") is a hedge, as naming two choices is.
        return TRUE_FALSE_CHOICES[0 if values.pop() else 1] if len(values) == 1 else None
    normed = f" {normalised(reply)} "
    named = [c for c in item.choices if f" {normalised(c)} " in normed]
    # "Shadow deployment" inside "not canary, shadow deployment" names two: only a single named choice counts.
    named = [c for c in named if not any(c != o and normalised(c) in normalised(o) for o in named)]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        return None
    reply_words = set(content_words(reply))
    overlaps = [(len(reply_words & set(content_words(c))), c) for c in item.choices]
    best = max(o for o, _ in overlaps)
    top = [c for o, c in overlaps if o == best]
    if best > 0 and len(top) == 1:
        return top[0]
    if embedder is None or not reply_words:
        return None
    vectors = embedder.encode([plain(reply), *[plain(c) for c in item.choices]])
    sims = sorted(((float(np.dot(vectors[0], v)), c) for v, c in zip(vectors[1:], item.choices)), reverse=True)
    if sims[0][0] >= 0.55 and sims[0][0] - sims[1][0] >= 0.08:
        return sims[0][1]
    return None


def _grade_choice(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    picked = _choice_from_reply(item, reply, embedder)
    if picked is None:
        options = "true or false" if item.type == "true_false" else "one of the choices (its letter or its text)"
        return Grade(item.id, 0.0, "wrong", f"Your reply does not pick {options}.")
    if picked == item.answer:
        return Grade(item.id, 1.0, "correct", f"You picked “{item.answer}”.")
    return Grade(item.id, 0.0, "wrong", f"You picked “{picked}”, but the answer is “{item.answer}”.")


def _grade_short(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    answer_words = list(dict.fromkeys(content_words(item.answer)))
    question_words = set(content_words(item.question))
    key_terms = [w for w in answer_words if w not in question_words] or answer_words
    reply_words = content_words(reply)
    if not reply_words:
        return Grade(item.id, 0.0, "wrong", "Your reply has no words that answer the question.")
    if normalised(reply) == normalised(item.answer) or (len(answer_words) <= 4 and reply_words == answer_words):
        return Grade(item.id, 1.0, "correct", "Correct.")
    if len(answer_words) <= 4 and set(answer_words) < set(reply_words):
        # 'data drift' for 'drift' names a different, narrower term.
        return Grade(item.id, 0.5, "partly", f"Partly right: the answer is “{item.answer}”, without the extra words.")
    covered = coverage(key_terms, reply)
    similarity = 0.0
    if embedder is not None:
        # The explanation is course text about the same answer: a reply close to it is close in meaning too.
        vectors = embedder.encode([plain(reply), plain(item.answer), plain(item.explanation)])
        similarity = max(float(np.dot(vectors[0], vectors[1])), float(np.dot(vectors[0], vectors[2])))
    meaning = min(1.0, max(0.0, (similarity - 0.35) / 0.45))
    if len(answer_words) <= 4:
        # A term answer (a cloze blank): the words matter more than the sentence's meaning.
        score = max(covered, meaning if similarity >= 0.8 else 0.0)
    else:
        score = 0.6 * meaning + 0.4 * covered
    missing = [w for w in key_terms if coverage([w], reply) == 0][:4]
    if score >= 0.55:
        return Grade(item.id, round(score, 3), "correct", "Correct: your answer matches the course.")
    if score >= 0.25:
        hint = f" It leaves out: {', '.join(missing)}." if missing else ""
        return Grade(item.id, round(score, 3), "partly", f"Partly right: you are on the right track.{hint}")
    return Grade(item.id, round(score, 3), "wrong", "Not quite: your answer does not match what the course says.")


def grade_reply(item: QuizItem, reply: str, embedder: TextEmbedder | None) -> Grade:
    """Grade a learner's reply honestly: no answer, gibberish and requests to be marked correct earn nothing."""
    text, injected = _without_injection(normalise_space(reply or ""))
    if not text or _NO_ANSWER.match(text):
        if injected:
            return Grade(item.id, 0.0, "wrong", "Asking to be marked correct is not an answer; grades come from the course only.")
        return Grade(item.id, 0.0, "wrong", "No answer given, so no points this time.")
    letters = sum(ch.isalpha() for ch in text)
    if item.type == "short_answer" and (letters < 0.5 * len(text) or not any(len(w) > 2 and w not in STOPWORDS for w in re.findall(r"[a-z]+", text.lower()))):
        return Grade(item.id, 0.0, "wrong", "Your reply does not read as an answer.")
    grade = _grade_choice(item, text, embedder) if item.choices else _grade_short(item, text, embedder)
    if injected:
        grade = Grade(grade.item_id, grade.score, grade.verdict, grade.reason + " (Instructions to the grader were ignored.)")
    return grade


