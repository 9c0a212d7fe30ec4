"""The course-guide command line: one click group (app.cli.main) with a command per module beside it."""
