"""Quizzes: items generated from the course, the item bank, grading, and the session as typed turns."""
