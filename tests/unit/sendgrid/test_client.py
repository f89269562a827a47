"""workers/sendgrid/client.py: rate-limit headers, SendGrid's error bodies, and what `request` makes of an answer.

`request` runs against a stub of requests' Session (the module's `_session`), so no HTTP server is involved:
each test hands it a `requests.Response` built in memory, or an exception to raise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from tests.unit.builders import NOW
from workers.sendgrid import client as client_module
from workers.sendgrid.client import RELATIVE_RESET_BELOW, RateLimit, SendGridClient, SendGridResponse

KEY = "SG.unit-test-key-0123456789.abcdefghijklmnopqrstuvwxyz0123"


# --- RateLimit.from_headers -----------------------------------------------------------------------------------


def headers(**values: object) -> CaseInsensitiveDict:
    return CaseInsensitiveDict({f"X-RateLimit-{k.title()}": str(v) for k, v in values.items()})


def test_an_epoch_reset_is_that_instant():
    epoch = int(NOW.timestamp()) + 60
    limit = RateLimit.from_headers(headers(limit=600, remaining=599, reset=epoch), NOW)
    assert limit == RateLimit(600, 599, epoch, NOW + timedelta(seconds=60))
    assert limit.reset_at.tzinfo is not None


def test_a_relative_reset_is_seconds_from_now():
    limit = RateLimit.from_headers(headers(limit=600, remaining=0, reset=42), NOW)
    assert limit == RateLimit(600, 0, 42, NOW + timedelta(seconds=42))


def test_the_boundary_between_relative_and_epoch():
    below = RateLimit.from_headers(headers(reset=RELATIVE_RESET_BELOW - 1), NOW)
    at = RateLimit.from_headers(headers(reset=RELATIVE_RESET_BELOW), NOW)
    assert below.reset_at == NOW + timedelta(seconds=RELATIVE_RESET_BELOW - 1)
    assert at.reset_at == datetime.fromtimestamp(RELATIVE_RESET_BELOW, UTC)  # September 2001


def test_a_zero_or_negative_relative_reset_is_now():
    assert RateLimit.from_headers(headers(reset=0), NOW).reset_at == NOW
    assert RateLimit.from_headers(headers(reset=-5), NOW).reset_at == NOW


def test_remaining_zero_is_kept_as_zero_not_as_missing():
    limit = RateLimit.from_headers(headers(remaining=0), NOW)
    assert limit.remaining == 0
    assert limit.remaining is not None


def test_numbers_written_as_decimals_are_truncated():
    limit = RateLimit.from_headers(headers(limit="600.0", remaining="3.9", reset="12.7"), NOW)
    assert (limit.limit, limit.remaining, limit.reset) == (600, 3, 12)
    assert limit.reset_at == NOW + timedelta(seconds=12)


def test_header_names_are_case_insensitive_in_a_real_response():
    raw = CaseInsensitiveDict({"x-ratelimit-limit": "600", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"})
    assert RateLimit.from_headers(raw, NOW) == RateLimit(600, 0, 9, NOW + timedelta(seconds=9))


@pytest.mark.parametrize("value", ["", "soon", "nan", None])
def test_unreadable_headers_are_missing(value):
    raw = CaseInsensitiveDict() if value is None else headers(limit=value, remaining=value, reset=value)
    assert RateLimit.from_headers(raw, NOW) == RateLimit()


@pytest.mark.parametrize("reset", ["inf", "1e400", "1790000000000", "99999999999999999999"])
def test_an_absurd_reset_does_not_raise(reset):
    limit = RateLimit.from_headers(headers(limit=600, remaining=0, reset=reset), NOW)
    assert (limit.limit, limit.remaining, limit.reset_at) == (600, 0, None)


# --- SendGridResponse: errors, message, ok, job_id ------------------------------------------------------------


def response(status: int | None, body: object = None, **values: object) -> SendGridResponse:
    return SendGridResponse("PUT", "/v3/marketing/contacts", status, body, **values)


def test_sendgrids_errors_list_is_read_as_is():
    body = {"errors": [{"field": "contacts[0].email", "message": "invalid email"}, {"field": None, "message": "x"}]}
    answer = response(400, body)
    assert answer.errors == body["errors"]
    assert answer.message == "contacts[0].email: invalid email; x"


def test_errors_that_are_not_objects_become_messages():
    assert response(400, {"errors": ["plain text", 3]}).errors == [{"message": "plain text"}, {"message": "3"}]


def test_the_single_error_shape():
    answer = response(401, {"error": "authorization required"})
    assert answer.errors == [{"message": "authorization required", "field": None}]
    assert answer.message == "authorization required"


@pytest.mark.parametrize("body", [None, "", [], ["x"], 42, {}, {"errors": "not a list"}, {"error": ["not", "a str"]}])
def test_bodies_without_errors_give_no_errors_and_say_the_status(body):
    answer = response(502, body)
    assert answer.errors == []
    assert answer.message == "HTTP 502"


def test_a_transport_error_is_the_message():
    answer = response(None, transport_error="ConnectTimeout: timed out")
    assert (answer.ok, answer.message, answer.errors) == (False, "ConnectTimeout: timed out", [])


def test_a_success_has_no_message():
    assert response(202, {"job_id": "j1"}).message == ""


@pytest.mark.parametrize(
    ("status", "ok"), [(None, False), (199, False), (200, True), (202, True), (299, True), (300, False), (400, False)]
)
def test_ok_is_2xx(status, ok):
    assert response(status).ok is ok


def test_job_id_only_from_an_object_body():
    assert response(202, {"job_id": "abc"}).job_id == "abc"
    assert response(202, {}).job_id is None
    assert response(202, None).job_id is None
    assert response(202, ["job_id"]).job_id is None


# --- SendGridClient.request: parsing what came back -----------------------------------------------------------


class StubSession:
    def __init__(self, reply: requests.Response | Exception) -> None:
        self.reply = reply
        self.calls: list[dict] = []

    def request(self, method: str, url: str, **kwargs: object) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


def http(status: int, content: bytes, **head: str) -> requests.Response:
    reply = requests.Response()
    reply.status_code = status
    reply._content = content
    reply.headers = CaseInsensitiveDict(head)
    reply.encoding = "utf-8"
    return reply


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch):
    def install(reply: requests.Response | Exception) -> StubSession:
        session = StubSession(reply)
        monkeypatch.setattr(client_module, "_session", lambda: session)
        return session

    return install


def test_a_json_answer_is_parsed_with_its_rate_limit(stub):
    stub(http(202, b'{"job_id":"j-1"}', **{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}))
    before = datetime.now(UTC)
    answer = SendGridClient("https://api.example.test/", KEY).upsert_contacts(b'{"contacts":[]}')
    assert (answer.status, answer.body, answer.job_id, answer.ok) == (202, {"job_id": "j-1"}, "j-1", True)
    assert answer.ratelimit.remaining == 0
    assert before + timedelta(seconds=30) <= answer.ratelimit.reset_at <= datetime.now(UTC) + timedelta(seconds=30)
    assert answer.request_bytes == len(b'{"contacts":[]}')


def test_the_request_carries_the_key_and_the_raw_body_unchanged(stub):
    session = stub(http(202, b"{}"))
    SendGridClient("https://api.example.test/", KEY).upsert_contacts(b'{"contacts":[1]}')
    (call,) = session.calls
    assert (call["method"], call["url"], call["data"]) == (
        "PUT",
        "https://api.example.test/v3/marketing/contacts",
        b'{"contacts":[1]}',
    )
    assert call["headers"]["Authorization"] == f"Bearer {KEY}"
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["timeout"] == client_module.TIMEOUT


def test_a_request_without_a_body_sends_no_content_type(stub):
    session = stub(http(200, b'{"scopes":[]}'))
    SendGridClient("https://api.example.test", KEY).scopes()
    (call,) = session.calls
    assert call["data"] is None
    assert "Content-Type" not in call["headers"]


def test_a_json_body_is_serialized(stub):
    session = stub(http(201, b'{"id":"e1_T"}'))
    SendGridClient("https://api.example.test", KEY).create_field("plan", "Text")
    assert json.loads(session.calls[0]["data"]) == {"name": "plan", "field_type": "Text"}


def test_an_empty_body_is_none(stub):
    stub(http(204, b""))
    answer = SendGridClient("https://api.example.test", KEY).unsuppress(1, "a@example.com")
    assert (answer.status, answer.body, answer.errors, answer.message) == (204, None, [], "")


def test_an_empty_error_body_says_the_status(stub):
    stub(http(500, b""))
    answer = SendGridClient("https://api.example.test", KEY).scopes()
    assert (answer.body, answer.message) == (None, "HTTP 500")


def test_a_non_json_body_becomes_the_single_error_shape(stub):
    stub(http(502, b"<html><body>502 Bad Gateway</body></html>"))
    answer = SendGridClient("https://api.example.test", KEY).scopes()
    assert answer.body == {"error": "<html><body>502 Bad Gateway</body></html>"}
    assert answer.message == "<html><body>502 Bad Gateway</body></html>"


def test_a_long_non_json_body_is_cut_and_the_key_never_kept(stub):
    stub(http(400, f"echo: Bearer {KEY} ".encode() + b"x" * 1000))
    answer = SendGridClient("https://api.example.test", KEY).scopes()
    assert KEY not in answer.message
    assert "SG.…" in answer.message
    assert len(answer.body["error"]) <= 300


def test_a_json_error_body_is_read(stub):
    stub(http(400, b'{"errors":[{"field":"contacts[1].email","message":"bad"}]}'))
    answer = SendGridClient("https://api.example.test", KEY).upsert_contacts(b"{}")
    assert answer.errors == [{"field": "contacts[1].email", "message": "bad"}]


def test_a_transport_error_is_an_answer_without_status_and_without_the_key(stub):
    stub(requests.ConnectionError(f"connection to https://apikey:{KEY}@api.example.test refused " + "y" * 1000))
    answer = SendGridClient("https://api.example.test", KEY).scopes()
    assert (answer.status, answer.body, answer.ok) == (None, None, False)
    assert answer.transport_error.startswith("ConnectionError: connection to https://apikey:SG.…")
    assert KEY not in answer.transport_error
    assert len(answer.transport_error) <= 500


def test_path_parameters_are_quoted(stub):
    session = stub(http(200, b"{}"))
    client = SendGridClient("https://api.example.test", KEY)
    client.import_status("a/b?c")
    client.unsuppress(3, "a+b@example.com")
    assert [c["url"] for c in session.calls] == [
        "https://api.example.test/v3/marketing/contacts/imports/a%2Fb%3Fc",
        "https://api.example.test/v3/asm/groups/3/suppressions/a%2Bb%40example.com",
    ]


def test_the_key_is_not_in_the_repr():
    assert KEY not in repr(SendGridClient("https://api.example.test", KEY))
