"""App: the answering engine (app.engine), the quiz (app.quiz), and the front ends over them: the web server with
the chat, the API, the widget and the lesson pages (app.web), and the command line (app.cli)."""
