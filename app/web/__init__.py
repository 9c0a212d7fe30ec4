"""The web front ends over the engine: the FastAPI server, the REST API, the Gradio chat, the lesson pages, the widget."""
