"""App: the answer function and its front ends (CLI, Gradio chat, lesson view)."""
