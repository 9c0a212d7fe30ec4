"""The one settings object: read once at the entry point (env vars, then CLI flags) and passed down."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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

# Calibrated by `course-guide calibrate` on eval/datasets/refusal_calibration.jsonl against the
# shipped corpus (see README, "Refusal threshold"); tests/test_answer.py checks it still matches.
CALIBRATED_REFUSAL_THRESHOLD = 0.36


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
    max_question_chars: int = Field(1000, ge=10, description="Longest question accepted, in characters.")
    chunk_tokens: int = Field(
        200, ge=32, le=250, description="Target chunk size in model tokens (the model reads at most 256)."
    )
    chunk_overlap_tokens: int = Field(30, ge=0, le=100, description="Tokens shared by neighbouring chunks.")
    embed_batch_size: int = Field(32, ge=1, le=1024, description="Chunks embedded per batch during ingest.")
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
        """Where citation links point: the public URL if set, else the address the chat serves on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
