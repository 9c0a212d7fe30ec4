"""Schemathesis over the API's own OpenAPI schema, against a real server on loopback: no 5xx, no response off its schema."""
from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from core.settings import Settings
from ingest.pipeline import ingest_corpus
from tests.conftest import FIXTURE_COURSE, serving

SERVED: dict[str, str] = {}
# Examples per operation and mode; COURSE_GUIDE_FUZZ_EXAMPLES=200 for a longer run than the suite's.
EXAMPLES = int(os.environ.get("COURSE_GUIDE_FUZZ_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("fuzz-api")
    shutil.copytree(FIXTURE_COURSE, root / "course")
    options = Settings(corpus_dir=root / "course", db_dir=root / "index", rate_limit_per_minute=1_000_000)
    ingest_corpus(options, lambda: embedder)
    with serving(options, embedder) as (url, _):
        SERVED["api"] = url + "/api"
        yield schemathesis.openapi.from_url(url + "/api/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_input_gets_a_5xx_or_a_response_off_its_schema(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 6, [op.label for op in operations]
    statuses: dict[str, list[int]] = {}
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def exchange(case):
            response = case.call_and_validate(
                base_url=SERVED["api"], timeout=60,
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )
            statuses.setdefault(case.operation.label, []).append(response.status_code)
            if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
                assert set(response.json()) == {"error"}, response.text  # every API error has the one shape

        try:
            exchange()
        except Unsatisfiable:  # no parameters or body (GET /health): there is no invalid input to make
            assert mode is GenerationMode.NEGATIVE
            statuses.setdefault(operation.label, [])
    sent = sum(map(len, statuses.values()))
    print(f"\n{mode.value}: {sent} requests: " + "; ".join(f"{label} {sorted(set(codes))}" for label, codes in statuses.items()))
    assert sent >= len(operations)
