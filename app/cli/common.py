"""What every command shares: settings from the environment and flags, the common options, opening the guide,
and turning the engine's errors into one-line messages (here, at the edge, and nowhere else)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.settings import Settings, use_offline_environment
from core.store import IndexUnusableError

if TYPE_CHECKING:
    from app.engine.guide import Guide
    from app.insights.store import InteractionStore
    from core.model import TextEmbedder

# Before any command imports chromadb, gradio or transformers, which read these at import time.
use_offline_environment()


def make_settings(*, resolve_course: bool = True, **flags: Any) -> Settings:
    """Environment first, then any flag the user passed (flags left as None keep the environment's value); with a
    course named (--course or COURSE_GUIDE_COURSE), that registered course's folder, index, records and access
    (`resolve_course=False`: the deployment's settings, with the name only checked)."""
    try:
        settings = Settings(**{name: value for name, value in flags.items() if value is not None})
    except ValueError as err:
        raise click.ClickException(f"Invalid setting: {err}. See `course-guide --help` and README 'Settings'.") from None
    if settings.course is None or not resolve_course:
        return settings
    from app.courses import CourseError, settings_for
    from app.insights.store import StoreError

    try:
        with opened_store(settings) as store:
            return settings_for(settings.model_copy(update={"course": None}), store, settings.course)
    except (CourseError, StoreError) as err:
        raise click.ClickException(str(err)) from None


@contextmanager
def opened_store(settings: Settings) -> Iterator[InteractionStore]:
    """The interaction store (learner records and the course registry), closed afterwards; errors as one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.insights.store import InteractionStore, StoreError

    try:
        store = InteractionStore.open(settings)
    except StoreError as err:  # its message already says what to check
        raise click.ClickException(str(err)) from None
    except (SQLAlchemyError, OSError) as err:
        raise click.ClickException(f"The interaction store cannot be opened ({str(err).splitlines()[0]}). Check "
                                   "COURSE_GUIDE_STORE_URL / COURSE_GUIDE_STATE_DIR.") from None
    try:
        yield store
    except SQLAlchemyError as err:
        raise click.ClickException(f"The interaction store failed ({err.__class__.__name__}: {str(err).splitlines()[0]}); "
                                   "check the database, then run the command again.") from None
    finally:
        store.close()


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
course_option = click.option(
    "--course", help="A registered course's name (see `course-guide course list`) [env: COURSE_GUIDE_COURSE; default: the default course].")
