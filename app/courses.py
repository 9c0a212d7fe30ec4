"""The course registry: the courses one deployment serves (name, documents, allowed sites, instructor token), kept in the
shared SQL store so every process and machine sees a course added, changed or removed at once, with no restart."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from app.insights.access import token_sha256
from app.insights.models import Course
from app.insights.store import InteractionStore, now, utc
from core.settings import COURSE_PATH_PREFIX, Settings, check_course_name, parse_origins


class CourseError(ValueError):
    """A course cannot be added, changed or found; the message says what to do instead."""


class UnknownCourseError(CourseError):
    def __init__(self, name: str):
        super().__init__(f"There is no course called {name!r} in this deployment. See `course-guide course list`, or add it "
                         f"with `course-guide course add {name} --corpus FOLDER`.")
        self.name = name


class CourseRecord(BaseModel):
    """One registered course as the registry holds it (the token only as its SHA-256)."""

    name: str
    title: str
    corpus_dir: str
    allowed_origins: list[str] = Field(default_factory=list)
    instructor_token_sha256: str | None = Field(None, exclude=True)
    created_at: datetime
    updated_at: datetime

    @property
    def has_instructor_token(self) -> bool:
        return self.instructor_token_sha256 is not None

    def to_dict(self) -> dict[str, Any]:
        """What `course list --json` and the course list page show: never the token's hash."""
        data = self.model_dump(mode="json")
        data["has_instructor_token"] = self.has_instructor_token
        data["path"] = f"{COURSE_PATH_PREFIX}{self.name}/"
        return data


def _record(row: Course) -> CourseRecord:
    return CourseRecord(name=row.name, title=row.title, corpus_dir=row.corpus_dir, allowed_origins=list(row.allowed_origins or []),
                        instructor_token_sha256=row.instructor_token_sha256, created_at=utc(row.created_at), updated_at=utc(row.updated_at))


def _origins(origins: list[str]) -> list[str]:
    try:
        parsed = parse_origins(list(origins))
    except ValueError as err:
        raise CourseError(str(err)) from None
    return sorted(set(parsed if isinstance(parsed, list) else []))


def _name(name: str) -> str:
    try:
        return check_course_name(name)
    except ValueError as err:
        raise CourseError(str(err)) from None


def _folder(corpus_dir: Path | str) -> str:
    folder = Path(corpus_dir).expanduser().resolve()
    if not folder.is_dir():
        raise CourseError(f"The course folder {corpus_dir} does not exist or is not a folder; pass --corpus with the folder of its documents.")
    return str(folder)


def add_course(store: InteractionStore, name: str, corpus_dir: Path | str, *, title: str | None = None,
               allowed_origins: list[str] | None = None, instructor_token: str | None = None) -> CourseRecord:
    """Register a course; CourseError if the name is taken or invalid, the folder missing or an origin malformed."""
    name, folder, origins = _name(name), _folder(corpus_dir), _origins(allowed_origins or [])
    at = now()
    with store.session() as session:
        if session.get(Course, name) is not None:
            raise CourseError(f"A course called {name!r} is registered already; change it with `course-guide course update {name}`, "
                              "or pick another name.")
        row = Course(name=name, title=(title or name).strip()[:200] or name, corpus_dir=folder, allowed_origins=origins,
                     instructor_token_sha256=token_sha256(instructor_token) if instructor_token else None, created_at=at, updated_at=at)
        session.add(row)
        return _record(row)


def update_course(store: InteractionStore, name: str, *, corpus_dir: Path | str | None = None, title: str | None = None,
                  allowed_origins: list[str] | None = None, instructor_token: str | None = None,
                  clear_instructor_token: bool = False) -> CourseRecord:
    """Change what is given of a registered course (None leaves a field as it is); UnknownCourseError if there is none."""
    folder = _folder(corpus_dir) if corpus_dir is not None else None
    origins = _origins(allowed_origins) if allowed_origins is not None else None
    with store.session() as session:
        row = session.get(Course, name)
        if row is None:
            raise UnknownCourseError(name)
        if folder is not None:
            row.corpus_dir = folder
        if title is not None and title.strip():
            row.title = title.strip()[:200]
        if origins is not None:
            row.allowed_origins = origins
        if instructor_token:
            row.instructor_token_sha256 = token_sha256(instructor_token)
        elif clear_instructor_token:
            row.instructor_token_sha256 = None
        row.updated_at = now()
        return _record(row)


def get_course(store: InteractionStore, name: str) -> CourseRecord | None:
    with store.session() as session:
        row = session.get(Course, name)
        return _record(row) if row is not None else None


def list_courses(store: InteractionStore) -> list[CourseRecord]:
    with store.session() as session:
        return [_record(row) for row in session.execute(select(Course).order_by(Course.name)).scalars()]


def unregister_course(store: InteractionStore, name: str) -> bool:
    """Take a course out of the registry (servers stop serving it on their next request); False if it was not there."""
    with store.session() as session:
        row = session.get(Course, name)
        if row is None:
            return False
        session.delete(row)
        return True


def course_settings(settings: Settings, course: CourseRecord) -> Settings:
    """The deployment's settings for one registered course: its documents, its index, its records and pages, the sites
    that may use it (the deployment's allowlist plus its own), and its instructor token besides the deployment's."""
    return settings.model_copy(update={
        "course": course.name,
        "course_name": course.title,
        "corpus_dir": Path(course.corpus_dir),
        "allowed_origins": sorted(set(settings.allowed_origins) | set(course.allowed_origins)),
        "course_instructor_token_sha256": course.instructor_token_sha256,
    })


def settings_for(settings: Settings, store: InteractionStore, name: str | None) -> Settings:
    """`settings` for the course called `name` (None: the default course, unchanged); UnknownCourseError if none is."""
    if name is None:
        return settings
    course = get_course(store, _name(name))
    if course is None:
        raise UnknownCourseError(name)
    return course_settings(settings, course)
