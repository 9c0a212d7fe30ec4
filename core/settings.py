"""The one settings object: read once at the entry point (env vars, then CLI flags) and passed down."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "COURSE_GUIDE_"

# No telemetry, no analytics and no model-hub access: everything runs offline.
OFFLINE_ENVIRONMENT = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def use_offline_environment() -> None:
    """Call before chromadb, gradio or transformers are imported: they read these at import time."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)

# Calibrated by `course-guide calibrate --questions eval/datasets/dev.jsonl` against the shipped corpus
# (see README, "Refusal threshold"); tests/test_answer.py checks they still match.
CALIBRATED_REFUSAL_THRESHOLD = 0.326
CALIBRATED_LEXICAL_FLOOR = 0.1
CALIBRATED_UNKNOWN_MEANING_LIMIT = 0.2
# What runs the embedding model (see core/model.py); each makes slightly different vectors, so each is its own index config.
EmbedBackend = Literal["torch", "onnx", "onnx-int8"]
EMBED_BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
# A registered course's name: lower-case letters, digits and single hyphens; it becomes a path (/c/NAME/), a folder
# name and part of Chroma collection names, so nothing else is allowed.
COURSE_NAME = re.compile(r"[a-z0-9](?:-?[a-z0-9])*")
MAX_COURSE_NAME_CHARS = 40
# The path under which a registered course's chat, lessons, API and instructor pages are served.
COURSE_PATH_PREFIX = "/c/"
# What a browser sends as Origin: scheme, host and an optional port, nothing after.
_ORIGIN = re.compile(r"https?://[^/?#\s]+")


class Settings(BaseSettings):
    """Every setting of Course Guide. Each field can be set as COURSE_GUIDE_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    corpus_dir: Path = Field(Path("corpus"), description="Folder of course documents to ingest.")
    db_dir: Path = Field(Path("index"), description="Folder where the search index lives.")
    model_path: Path | None = Field(
        None, description="Folder of a sentence-transformers model; default: the bundled all-MiniLM-L6-v2."
    )
    host: str = Field("127.0.0.1", description="Address the web chat listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port the web chat listens on.")
    public_url: str | None = Field(
        None, description="Base URL that citation links use; default: http://HOST:PORT."
    )
    top_k: int = Field(5, ge=1, le=50, description="How many passages retrieval returns per question.")
    max_answer_sentences: int = Field(4, ge=1, le=12, description="Most sentences in an offline answer.")
    refusal_threshold: float = Field(
        CALIBRATED_REFUSAL_THRESHOLD,
        ge=-1.0,
        le=1.0,
        description="Questions whose best passage scores below this are refused as not covered.",
    )
    refusal_lexical_floor: float = Field(
        CALIBRATED_LEXICAL_FLOOR,
        ge=-1.0,
        le=1.0,
        description="Below the threshold, a question is still answered when a passage holding all its key words scores at least this.",
    )
    refusal_meaning_limit: float = Field(
        CALIBRATED_UNKNOWN_MEANING_LIMIT,
        ge=0.0,
        le=2.0,
        description="A question is refused (unless a passage clearly matches) when leaving out the words the course never "
                    "uses moves its meaning (1 - cosine) by at least this.",
    )
    max_question_chars: int = Field(1000, ge=10, description="Longest question accepted, in characters.")
    max_request_bytes: int = Field(
        1_000_000, ge=1024, description="Largest API request body, in bytes; a bigger one is refused with 413 while it is read."
    )
    chunk_tokens: int = Field(
        200, ge=32, le=250, description="Target chunk size in model tokens (the model reads at most 256)."
    )
    chunk_overlap_tokens: int = Field(30, ge=0, le=100, description="Tokens shared by neighbouring chunks.")
    max_file_bytes: int = Field(
        20_000_000, ge=1, description="Largest course file ingested, in bytes; a bigger one is reported and skipped."
    )
    max_chunks_per_file: int = Field(
        5000, ge=1, description="Most chunks one course file may make; a file that would make more is reported and skipped."
    )
    max_batch_questions: int = Field(
        1000, ge=1, description="Most questions one `ask -` batch answers; the lines after it get an error line each."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Chunks embedded per batch during ingest.")
    # On since eval/bench_scale.py measured a one-lesson edit of a 100k-chunk course by copy under 10 s (issue 16; a
    # whole generation took 515 s); tested for atomicity and for giving the same index as a full write.
    publish_by_copy: bool = Field(
        True, description="Publish a small change (at most a fifth of the chunks) by copying the live generation of a "
                           "local index and replacing only the changed files' chunks in the copy.")
    embed_backend: EmbedBackend = Field(
        "torch",
        description="What runs the embedding model: 'torch' (sentence-transformers on PyTorch), 'onnx' (ONNX Runtime) or "
        "'onnx-int8' (ONNX Runtime, int8-quantized weights); the ONNX files are exported once from the same weights. "
        "Changing it re-embeds the course.",
    )
    model_cache_dir: Path | None = Field(
        None, description="Folder of the exported ONNX models, made on first use; default: models/ in the state folder."
    )

    @field_validator("embed_backend", mode="before")
    @classmethod
    def _known_backend(cls, value: object) -> object:
        """One line naming the choices, instead of pydantic's literal_error."""
        text = str(value).strip().lower()
        if text not in EMBED_BACKENDS:
            raise ValueError(f"embed_backend {value!r} is not one of {', '.join(EMBED_BACKENDS)}; set COURSE_GUIDE_EMBED_BACKEND to one of them")
        return text

    def onnx_cache_dir(self) -> Path:
        """Where exported ONNX models live: the setting, else models/ in the state folder (never inside the package)."""
        return Path(self.model_cache_dir) if self.model_cache_dir else Path(self.state_dir) / "models"
    llm_base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint for generated answers, e.g. http://localhost:11434/v1 (Ollama); "
        "unset: offline extractive answers only.",
    )
    llm_model: str = Field("llama3.1", description="Model name the LLM endpoint serves.")
    llm_api_key: SecretStr = Field(
        SecretStr("not-needed"), description="API key for the LLM endpoint (local servers ignore it)."
    )
    llm_timeout_s: float = Field(30.0, gt=0, le=600, description="Seconds to wait for the LLM before answering offline.")
    llm_max_tokens: int = Field(400, ge=16, le=4096, description="Longest generated answer, in tokens.")

    def base_url(self) -> str:
        """Where citation links point: the public URL if set, else the address the chat serves on (plus the course's path)."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/") + self.course_path()

    course_site_url: str | None = Field(
        None,
        description="Base URL of the course's own site built from the same folder (MkDocs, or the files on GitHub); "
        "citations of Markdown lessons then open its pages at the heading. Unset: the guide's own lesson view.",
    )
    course_site_style: Literal["mkdocs", "github"] = Field(
        "mkdocs",
        description="How that site names pages and heading ids: 'mkdocs' (lesson/ pages, Python-Markdown toc ids) or "
        "'github' (the .md file as GitHub shows it, GitHub's ids). Also the id rule for a lesson's front-matter url.",
    )

    @field_validator("course_site_url")
    @classmethod
    def _site_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"https?://[^\s/?#]+", value.strip()):
            raise ValueError(f"{value!r} is not an http(s) URL; write it as e.g. https://course.example.edu/mlops/")
        return value.strip().rstrip("/")

    # Embedding (issue 6): who may call the API and frame the pages, how often, and a shared Chroma server.
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Course-site origins (scheme://host[:port]) allowed to call the API and frame the pages; "
        "comma-separated or a JSON list. Localhost and 127.0.0.1, any port, are always allowed.",
    )
    rate_limit_per_minute: int = Field(60, ge=1, description="API requests per minute allowed to one client address.")
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:6379/0) where every worker and replica counts the rate limit together; "
        "unset: each process counts its own.",
    )
    chroma_host: str | None = Field(None, description="Host of a Chroma server (`chroma run`) holding the index; default: the index folder.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Port of the Chroma server.")

    # Instructor insights (issue 13): what learners asked, kept apart from the index so an ingest never touches it.
    state_dir: Path = Field(
        Path("state"), description="Folder of the learner-interaction database (SQLite); never inside the index folder."
    )
    store_url: str | None = Field(
        None, description="SQLAlchemy URL of the interaction store, e.g. postgresql+psycopg://user:pw@host/db for several "
        "replicas; default: sqlite in the state folder.",
    )
    record_interactions: bool = Field(True, description="Record learners' questions (anonymously) for the instructor's insights.")
    retention_days: int = Field(180, ge=1, le=3650, description="Learner records older than this many days are deleted.")
    instructor_token: SecretStr | None = Field(
        None, description="Token that opens /instructor and /api/instructor/...; unset: those pages are off."
    )
    # LTI 1.3 (issue 17): how long a launched page may act for its learner, and how often unsent grades are retried.
    lti_launch_hours: float = Field(8.0, gt=0, le=72, description="Hours a page launched from a course platform stays usable.")
    lti_grade_retry_s: float = Field(
        60.0, gt=0, le=3600, description="Seconds before a grade the platform refused is sent again (doubling on each failure)."
    )
    course_name: str | None = Field(None, max_length=200, description="Course name in the learner records; default: the course folder's name.")
    # Many courses in one deployment (issue 16): a registered course (`course-guide course add`) is named here; its
    # index, quiz bank, learner records, origins and instructor token are its own. Unset: the one default course.
    course: str | None = Field(
        None, description="The registered course this command or process works on (see `course-guide course list`); "
                          "unset: the default course (COURSE_GUIDE_CORPUS_DIR, COURSE_GUIDE_DB_DIR).")
    course_instructor_token_sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 (hex) of a course's own instructor token, from the course registry; it opens that course's "
                    "instructor pages only. COURSE_GUIDE_INSTRUCTOR_TOKEN opens every course's.")

    @field_validator("course", mode="before")
    @classmethod
    def _course_name(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return check_course_name(str(value))

    def course_label(self) -> str:
        """The course name the interaction records and pages show."""
        return self.course_name or self.course or Path(self.corpus_dir).resolve().name or "course"

    def course_key(self) -> str:
        """The course the learner records are filed under: a registered course's name, or "" for the default course."""
        return self.course or ""

    def course_path(self) -> str:
        """Where this course's pages are served on the guide: /c/NAME for a registered course, the root for the default."""
        return f"{COURSE_PATH_PREFIX}{self.course}" if self.course else ""

    def course_index_dir(self) -> Path:
        """The index folder of this course: a registered course's lives in courses/NAME inside the index folder."""
        return Path(self.db_dir) / "courses" / self.course if self.course else Path(self.db_dir)

    def store_location(self) -> str:
        """The SQLAlchemy URL of the interaction store: the setting, else SQLite in the state folder.

        ValueError when the state folder lies inside the index folder: deleting or rebuilding the index must
        never delete learner records. (Checked here, where the store opens, so other commands are not held up.)"""
        if self.store_url:
            return self.store_url
        state, index = Path(self.state_dir).resolve(), Path(self.db_dir).resolve()
        if state == index or index in state.parents:
            raise ValueError(
                f"the state folder {self.state_dir} lies inside the index folder {self.db_dir}; "
                "set COURSE_GUIDE_STATE_DIR to a folder of its own, e.g. state/"
            )
        return f"sqlite:///{(state / 'interactions.sqlite3')}"

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        return parse_origins(value)


def check_course_name(name: str) -> str:
    """`name` if it can name a registered course, else ValueError saying what a name may hold."""
    text = name.strip()
    if len(text) > MAX_COURSE_NAME_CHARS or not COURSE_NAME.fullmatch(text) or text == "default":
        raise ValueError(
            f"{name!r} cannot name a course: use 1-{MAX_COURSE_NAME_CHARS} lower-case letters, digits and single hyphens "
            "(e.g. 'stats-101'), not 'default'")
    return text


def parse_origins(value: object) -> object:
    """Accept 'https://a.edu, https://b.edu' as well as a JSON list; origins carry no trailing slash. ValueError naming
    the first that is not an origin."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else text.split(",")
    if isinstance(value, list):
        origins = [str(origin).strip().rstrip("/") for origin in value if str(origin).strip()]
        bad = [origin for origin in origins if not _ORIGIN.fullmatch(origin)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an origin; write it as scheme://host[:port], e.g. https://course.example.edu")
        return origins
    return value
