"""The served OpenAPI document (valid OpenAPI 3.0, every operation with its request and responses), the docs page,
and a schemathesis run against the live server: no 5xx."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from markupsafe import escape
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.api import INSTALL, OPERATIONS, TOKEN
from workers.admin.schemas import MAX_BATCH

pytestmark = pytest.mark.integration

EXAMPLES_PER_MODE = 25  # per operation, once with valid (positive) and once with invalid (negative) data
# No 5xx; and each answer is one the document declares, with the declared content type and body schema.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


EVENT = "#/components/schemas/Event"
ONE_OR_A_BATCH = {
    "anyOf": [
        {"$ref": EVENT},
        {
            "type": "object",
            "required": ["batch"],
            "properties": {"batch": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {"$ref": EVENT}}},
            "additionalProperties": False,
        },
    ]
}
ONE_INTEGRATION = "/v1/admin/integrations/{integration_id}"
ERASURES = "/v1/admin/privacy/erasures"
# Each operation: its request body's schema (None: it takes no body), its success status and that answer's schema;
# a string is a reference to a component.
DESCRIBED = {
    ("POST", INSTALL): ("#/components/schemas/Install", "201", "#/components/schemas/Installed"),
    ("GET", "/v1/admin/integrations"): (
        None,
        "200",
        {"type": "array", "items": {"$ref": "#/components/schemas/Integration"}},
    ),
    ("GET", "/v1/admin/deliveries"): (None, "200", "#/components/schemas/DeliveryPage"),
    ("POST", "/v1/admin/deliveries/replay"): (
        "#/components/schemas/Replay",
        "200",
        "#/components/schemas/ReplayResult",
    ),
    ("GET", "/v1/admin/stats"): (None, "200", "#/components/schemas/Stats"),
    ("POST", "/v1/events"): (ONE_OR_A_BATCH, "202", "#/components/schemas/Accepted"),
    ("PATCH", ONE_INTEGRATION): ("#/components/schemas/IntegrationUpdate", "200", "#/components/schemas/Installed"),
    ("DELETE", ONE_INTEGRATION): (None, "200", "#/components/schemas/Deleted"),
    ("POST", f"{ONE_INTEGRATION}/disable"): (None, "200", "#/components/schemas/Integration"),
    ("POST", f"{ONE_INTEGRATION}/enable"): (None, "200", "#/components/schemas/Integration"),
    ("POST", f"{ONE_INTEGRATION}/key"): ("#/components/schemas/Key", "200", "#/components/schemas/Integration"),
    ("POST", ERASURES): ("#/components/schemas/ErasureRequest", "202", "#/components/schemas/Erasure"),
    ("GET", f"{ERASURES}/{{erasure_id}}"): (None, "200", "#/components/schemas/Erasure"),
    ("GET", "/v1/admin/events"): (None, "200", {"type": "array", "items": {"$ref": "#/components/schemas/EventList"}}),
}
ERRORS = {"400", "401", "503"}  # every operation: invalid input, no or a wrong token, database unavailable


@pytest.fixture
def document(api) -> dict:
    return api.get("/openapi.json", token=None).json()


def refs(node: object) -> Iterator[str]:
    """Every `$ref` in the document."""
    if isinstance(node, dict):
        yield from (node["$ref"],) if isinstance(node.get("$ref"), str) else ()
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), ref
    node: object = document
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def as_schema(schema: str | dict) -> dict:
    return {"$ref": schema} if isinstance(schema, str) else schema


def json_schema(document: dict, part: dict) -> dict:
    """The JSON schema of a request body or response (through a `$ref` to components.responses)."""
    if "$ref" in part:
        part = resolve(document, part["$ref"])
    return part["content"]["application/json"]["schema"]


def test_the_document_is_valid_openapi_3(document):
    """Checked against the OpenAPI 3.0 schema (schemathesis' validator): structure, types, regex syntax."""
    assert document["openapi"].startswith("3.0")
    schemathesis.openapi.from_dict(document).validate()
    for ref in refs(document):
        resolve(document, ref)


def test_the_document_describes_every_operation_with_its_request_and_responses(document):
    assert document["info"]["title"] == "signal-sendgrid admin API"
    assert set(DESCRIBED) == OPERATIONS
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops if m != "parameters"}
    assert operations == OPERATIONS
    for (method, path), (request, success, answer) in DESCRIBED.items():
        operation = document["paths"][path][method.lower()]
        assert operation.get("summary"), (method, path)
        if request is None:
            assert "requestBody" not in operation, (method, path)
        else:
            assert operation["requestBody"]["required"] is True, (method, path)
            assert json_schema(document, operation["requestBody"]) == as_schema(request), (method, path)
        responses = operation["responses"]
        assert ERRORS | {success} <= set(responses), (method, path)
        assert [status for status in responses if status.startswith("2")] == [success], (method, path)
        assert json_schema(document, responses[success]) == as_schema(answer), (method, path)
        for status in ERRORS:
            assert json_schema(document, responses[status]) == {"$ref": "#/components/schemas/Error"}, (method, path)
    assert "413" in document["paths"]["/v1/events"]["post"]["responses"]


def test_the_document_declares_the_bearer_scheme_for_everything(document):
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "SIGNAL_ADMIN_TOKEN",
    }
    assert document["security"] == [{"bearerAuth": []}]
    assert not [op for ops in document["paths"].values() for op in ops.values() if "security" in op]  # no opt-out


def test_the_docs_page_lists_every_operation_with_its_summary(api, document):
    """Swagger UI from the vendored assets (no CDN), and every operation readable without JavaScript."""
    page = api.get("/docs", token=None)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert 'href="/openapi.json"' in page.text and 'data-spec-url="/openapi.json"' in page.text
    assert "/console/static/console/swagger-ui/swagger-ui-bundle.js" in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)  # nothing from another server
    assert api.get("/console/static/console/swagger-ui/swagger-ui-bundle.js", token=None).status_code == 200
    fallback = page.text[page.text.index('id="docs-fallback"') :]
    for method, path in OPERATIONS:
        summary = document["paths"][path][method.lower()]["summary"]
        assert f"<code>{method} {escape(path)}</code></h3>\n  <p><b>{escape(summary)}</b>" in fallback
    assert "`" not in fallback  # Markdown code spans are rendered, not shown
    assert "<code>errors.existing_id</code>" in fallback


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
    # Valid data gets through authentication and validation in every operation but install (random keys) and
    # those on one integration (random ids, nearly all of them 404).
    assert all(
        any(200 <= s < 300 for s in counts)
        for label, counts in statuses.items()
        if "install" not in label and "{integration_id}" not in label and "{erasure_id}" not in label
    )
