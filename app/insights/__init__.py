"""Instructor insights: the learner-interaction store, recording, feedback, course gaps and the instructor's views."""
