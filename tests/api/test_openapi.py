"""The served OpenAPI document, the docs page, and a schemathesis run against the live server: no 5xx."""

from __future__ import annotations

import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import OPERATIONS, TOKEN

pytestmark = pytest.mark.integration

EXAMPLES_PER_MODE = 25  # per operation, once with valid (positive) and once with invalid (negative) data
# No 5xx; and each answer is one the document declares, with the declared content type and body schema.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_document_describes_every_route_and_the_bearer_scheme(api):
    document = api.get("/openapi.json", token=None).json()
    assert document["info"]["title"] == "signal-sendgrid admin API"
    assert document["openapi"].startswith("3.")
    assert {(m.upper(), p) for p, ops in document["paths"].items() for m in ops} == OPERATIONS
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "SIGNAL_ADMIN_TOKEN",
    }
    assert document["security"] == [{"bearerAuth": []}]
    install = document["paths"]["/v1/admin/integration-catalog/sendgrid/install"]["post"]
    assert {"201", "400", "401"} <= set(install["responses"])
    assert "413" in document["paths"]["/v1/events"]["post"]["responses"]


def test_the_docs_page_lists_the_routes(api):
    page = api.get("/docs", token=None)
    assert page.status_code == 200
    assert "/v1/admin/integration-catalog/sendgrid/install" in page.text and "/openapi.json" in page.text


def exercise(operation, mode: GenerationMode, base_url: str, seen: Counter) -> None:
    """Call one operation with generated cases; hypothesis raises at the first 5xx."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure here is reproducible
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:  # noqa: ANN001 - a schemathesis Case
        response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        seen[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    run()


def test_schemathesis_finds_no_server_error(api, work):
    """Every operation with generated valid and invalid data, the token sent, bounded to about a minute."""
    schema = schemathesis.openapi.from_url(api.url + "/openapi.json", timeout=10)
    statuses: dict[str, Counter] = {}
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exercise(operation, mode, api.url, statuses.setdefault(operation.label, Counter()))
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(statuses)} operations in {elapsed:.1f}s")  # noqa: T201 - shown with -s
    for label, counts in sorted(statuses.items()):
        print(f"  {label}: {sum(counts.values())} calls, statuses {dict(sorted(counts.items()))}")  # noqa: T201
    assert {tuple(label.split(" ", 1)) for label in statuses} == OPERATIONS
    assert all(status < 500 for counts in statuses.values() for status in counts)
    # Valid data gets through authentication and validation in every operation but install (random keys).
    assert all(any(200 <= s < 300 for s in counts) for label, counts in statuses.items() if "install" not in label)
