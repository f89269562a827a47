"""The SendGrid HTTP client: pooled connections, timeouts, rate-limit headers, both error shapes.

It never raises for an HTTP outcome: every call returns a `SendGridResponse` that the caller records as a
delivery attempt. Texts it produces are redacted, so a key can never reach a log or the database.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests

from config.secrets import redact

USER_AGENT = "signal-sendgrid/0.1 (+https://github.com/signal-sendgrid)"
TIMEOUT = (5.0, 30.0)  # connect, read: SendGrid answers in well under a second when healthy
RELATIVE_RESET_BELOW = 10**9  # X-RateLimit-Reset under this is "seconds from now" (seen in 2026)

_local = threading.local()


def _session() -> requests.Session:
    """One pooled session per thread: requests' Session is not documented as thread-safe."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


@dataclass(frozen=True)
class RateLimit:
    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None  # as SendGrid sent it
    reset_at: datetime | None = None  # absolute, whichever form was sent

    @classmethod
    def from_headers(cls, headers: Any, now: datetime) -> RateLimit:
        def number(name: str) -> int | None:
            try:
                return int(float(headers.get(name)))
            except (TypeError, ValueError, OverflowError):  # missing, not a number, inf
                return None

        reset = number("X-RateLimit-Reset")
        reset_at = None
        if reset is not None:
            try:
                if reset < RELATIVE_RESET_BELOW:
                    reset_at = now + timedelta(seconds=max(reset, 0))
                else:
                    reset_at = datetime.fromtimestamp(reset, UTC)
            except (ValueError, OverflowError, OSError):  # past year 9999 (a reset in milliseconds, say)
                reset, reset_at = None, None
        return cls(number("X-RateLimit-Limit"), number("X-RateLimit-Remaining"), reset, reset_at)


@dataclass
class SendGridResponse:
    method: str
    path: str
    status: int | None  # None: no HTTP answer (timeout, connection reset)
    body: Any = None
    latency_ms: int = 0
    request_bytes: int = 0
    ratelimit: RateLimit = field(default_factory=RateLimit)
    transport_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def job_id(self) -> str | None:
        return self.body.get("job_id") if isinstance(self.body, dict) else None

    @property
    def errors(self) -> list[dict[str, Any]]:
        """SendGrid's errors in one shape, whether it sent `{"errors":[...]}` or `{"error": "..."}`."""
        if not isinstance(self.body, dict):
            return []
        if isinstance(self.body.get("errors"), list):
            return [e if isinstance(e, dict) else {"message": str(e)} for e in self.body["errors"]]
        if isinstance(self.body.get("error"), str):
            return [{"message": self.body["error"], "field": None}]
        return []

    @property
    def message(self) -> str:
        """One line saying what went wrong, for a delivery's reason and an attempt's error."""
        if self.transport_error:
            return self.transport_error
        parts = [
            # The field once: SendGrid's messages sometimes start with it already ("list_ids: unknown list id").
            f"{e.get('field')}: {e.get('message')}"
            if e.get("field") and not str(e.get("message")).startswith(f"{e.get('field')}:")
            else str(e.get("message"))
            for e in self.errors
        ]
        return "; ".join(parts) or (f"HTTP {self.status}" if not self.ok else "")


class SendGridClient:
    def __init__(self, api_url: str, api_key: str, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the key, even in a traceback's locals
        return f"SendGridClient({self.api_url!r})"

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> SendGridResponse:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        result = SendGridResponse(method, path, None, request_bytes=len(data or b""))
        try:
            answer = _session().request(method, self.api_url + path, data=data, headers=headers, timeout=self.timeout)
        except requests.RequestException as e:
            result.latency_ms = round((time.perf_counter() - started) * 1000)
            result.transport_error = redact(f"{type(e).__name__}: {e}", self._api_key)[:500]
            return result
        result.latency_ms = round((time.perf_counter() - started) * 1000)
        result.status = answer.status_code
        result.ratelimit = RateLimit.from_headers(answer.headers, datetime.now(UTC))
        try:
            result.body = answer.json() if answer.content else None
        except ValueError:
            result.body = {"error": redact(answer.text[:300], self._api_key)}
        return result

    # The endpoints this product uses.
    def scopes(self) -> SendGridResponse:
        return self.request("GET", "/v3/scopes")

    def field_definitions(self) -> SendGridResponse:
        return self.request("GET", "/v3/marketing/field_definitions")

    def create_field(self, name: str, field_type: str) -> SendGridResponse:
        return self.request("POST", "/v3/marketing/field_definitions", {"name": name, "field_type": field_type})

    def lists(self) -> SendGridResponse:
        return self.request("GET", "/v3/marketing/lists?page_size=1000")

    def upsert_contacts(self, body: bytes) -> SendGridResponse:
        return self.request("PUT", "/v3/marketing/contacts", raw=body)

    def import_status(self, job_id: str) -> SendGridResponse:
        return self.request("GET", f"/v3/marketing/contacts/imports/{quote(job_id, safe='')}")

    def search_emails(self, emails: list[str]) -> SendGridResponse:
        """At most 100 emails; 200 with a result per email, 404 when none matches (workers/sendgrid/contacts.py)."""
        return self.request("POST", "/v3/marketing/contacts/search/emails", {"emails": emails})

    def delete_contacts(self, contact_ids: list[str]) -> SendGridResponse:
        """Asynchronous: 202 with a job_id, read like an import job (`import_status`)."""
        return self.request("DELETE", f"/v3/marketing/contacts?ids={quote(','.join(contact_ids), safe=',')}")

    def suppress(self, group_id: int, emails: list[str]) -> SendGridResponse:
        return self.request("POST", f"/v3/asm/groups/{group_id}/suppressions", {"recipient_emails": emails})

    def unsuppress(self, group_id: int, email: str) -> SendGridResponse:
        return self.request("DELETE", f"/v3/asm/groups/{group_id}/suppressions/{quote(email, safe='')}")
