"""What every command shares: settings from the environment and flags, the common options, opening the guide,
and turning the engine's errors into one-line messages (here, at the edge, and nowhere else)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import Settings, use_offline_environment
from core.store import IndexUnusableError

if TYPE_CHECKING:
    from app.engine.guide import Guide
    from core.model import TextEmbedder

# Before any command imports chromadb, gradio or transformers, which read these at import time.
use_offline_environment()


def make_settings(**flags: Any) -> Settings:
    """Environment first, then any flag the user passed (flags left as None keep the environment's value)."""
    try:
        return Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValueError as err:
        raise click.ClickException(f"Invalid setting: {err}. See `course-guide --help` and README 'Settings'.") from None


def load_model(settings: Settings) -> TextEmbedder:
    """The embedding model the settings name, loaded once per process."""
    from core.model import EmbedderError, embedder_for

    try:
        return embedder_for(settings)
    except (FileNotFoundError, EmbedderError) as err:
        raise click.ClickException(str(err)) from None


def guide_for(settings: Settings, *, require_index: bool = True, embedder: TextEmbedder | None = None) -> Guide:
    """The guide every command answers with (app.engine.guide.open_guide); a missing index is reported before the model loads.

    Pass `embedder` when the command has loaded the model already (eval --corpus ingests first)."""
    from app.engine.guide import open_guide
    from core.model import EmbedderError

    try:
        return open_guide(settings, embedder, require_index=require_index)
    except (IndexUnusableError, FileNotFoundError, EmbedderError) as err:
        raise click.ClickException(str(err)) from None


db_option = click.option("--db", "db_dir", type=click.Path(path_type=Path), help="Index folder [env: COURSE_GUIDE_DB_DIR; default: index].")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
