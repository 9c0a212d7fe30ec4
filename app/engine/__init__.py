"""The answering engine: the Guide and its one constructor, retrieval, the refusal rule, follow-ups, and the answerers."""
