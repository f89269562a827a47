"""Everything one sandbox account holds, behind one lock: keys, lists, fields, contacts, jobs,
suppressions, rate-limit buckets, faults and the request log.

Pure Python (no Flask): the routes in :mod:`sandbox.api` and :mod:`sandbox.admin` call these
methods, and each method takes the lock, so concurrent requests see a consistent account.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass

from sandbox import (
    DEFAULT_GROUP_ID,
    DEFAULT_GROUP_NAME,
    DEFAULT_KEY,
    DEFAULT_LIST_ID,
    DEFAULT_LIST_NAME,
    DEFAULT_SCOPES,
)
from sandbox.contacts import ContactStore
from sandbox.deletion import DeletionJob
from sandbox.fields import RESERVED_FIELDS, CustomField, FieldRegistry
from sandbox.jobs import Job
from sandbox.limits import FaultDecision, Faults, RateInfo, RateLimiter, decide
from sandbox.suppressions import Suppressions
from sandbox.upsert import Rejection, check_upsert

REQUEST_LOG_SIZE = 10_000


@dataclass
class KeyRecord:
    scopes: frozenset[str]
    revoked: bool = False


class SandboxState:
    def __init__(
        self,
        keys: dict[str, list[str]] | None = None,
        lists: list[str] | None = None,
        groups: dict[int, str] | None = None,
        apply_delay: float = 0.0,
        rate_limit: int = 600,
        rate_window: float = 1.0,
        relative_reset: bool = False,
        seed: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._initial_keys = dict(keys) if keys is not None else {DEFAULT_KEY: list(DEFAULT_SCOPES)}
        if lists is None:
            self._initial_lists = {DEFAULT_LIST_ID: DEFAULT_LIST_NAME}
        else:
            self._initial_lists = {list_id: f"Sandbox list {n}" for n, list_id in enumerate(lists, 1)}
        self._initial_groups = dict(groups) if groups is not None else {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME}
        self.apply_delay = apply_delay
        self.relative_reset = relative_reset
        self.limiter = RateLimiter(rate_limit, rate_window)
        self._rng = random.Random(seed)
        # Custom field ids start at an offset of this instance's own, so no client can hard-code them.
        self.fields = FieldRegistry(first_number=random.Random(seed).randint(1, 90))
        self.contacts = ContactStore()
        self.suppressions = Suppressions(self._initial_groups)
        self.jobs: dict[str, Job] = {}
        self.faults = Faults()
        self.request_log: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
        self.keys = {key: KeyRecord(frozenset(scopes)) for key, scopes in self._initial_keys.items()}
        self.lists = dict(self._initial_lists)

    # --- keys, rate limits, faults -------------------------------------------------------------

    def key_is_valid(self, key: str) -> bool:
        with self.lock:
            record = self.keys.get(key)
            return record is not None and not record.revoked

    def scopes_of(self, key: str) -> list[str]:
        with self.lock:
            record = self.keys.get(key)
            return sorted(record.scopes) if record else []

    def has_any_scope(self, key: str, scopes: tuple[str, ...]) -> bool:
        with self.lock:
            record = self.keys.get(key)
            return record is not None and bool(record.scopes.intersection(scopes))

    def add_key(self, key: str, scopes: list[str] | None) -> None:
        with self.lock:
            self.keys[key] = KeyRecord(frozenset(DEFAULT_SCOPES if scopes is None else scopes))

    def set_revoked(self, key: str, revoked: bool) -> bool:
        with self.lock:
            record = self.keys.get(key)
            if record is not None:
                record.revoked = revoked
            return record is not None

    def hit_rate_limit(self, key: str) -> RateInfo:
        with self.lock:
            return self.limiter.hit(key, time.time())

    def peek_rate_limit(self, key: str) -> RateInfo:
        with self.lock:
            return self.limiter.peek(key, time.time())

    def rate_headers(self, info: RateInfo) -> dict[str, str]:
        return info.headers(time.time(), self.relative_reset)

    def decide_fault(self, path: str) -> FaultDecision:
        with self.lock:
            return decide(self.faults, path, time.time(), self._rng)

    def set_faults(self, body: dict) -> dict:
        with self.lock:
            faults = Faults.from_json(body, time.time())  # raises FaultConfigError
            if "seed" in body:
                self._rng.seed(body["seed"])
            self.faults = faults
            return faults.to_json(time.time())

    def faults_json(self) -> dict:
        with self.lock:
            return self.faults.to_json(time.time())

    def update_settings(self, body: dict) -> dict:
        with self.lock:
            if "apply_delay" in body:
                self.apply_delay = float(body["apply_delay"])
            if "rate_limit" in body:
                self.limiter.limit = int(body["rate_limit"])
            if "rate_window" in body:
                self.limiter.window = float(body["rate_window"])
            if "relative_reset" in body:
                self.relative_reset = bool(body["relative_reset"])
            self.limiter.clear()
            return self.settings_json()

    def settings_json(self) -> dict:
        return {
            "apply_delay": self.apply_delay,
            "rate_limit": self.limiter.limit,
            "rate_window": self.limiter.window,
            "relative_reset": self.relative_reset,
        }

    # --- fields, contacts, jobs ------------------------------------------------------------------

    def field_definitions(self) -> dict:
        with self.lock:
            return {
                "custom_fields": [f.to_dict() for f in self.fields.all()],
                "reserved_fields": [dict(f) for f in RESERVED_FIELDS],
            }

    def create_field(self, name: object, field_type: object) -> CustomField:
        with self.lock:
            return self.fields.create(name, field_type)  # raises FieldError

    def submit_upsert(self, body: object, errors_url_base: str) -> Job | Rejection:
        """Check the request as a whole; queue an import job when it passes."""
        with self.lock:
            known_ids = {f.id for f in self.fields.all()}
            rejection = check_upsert(body, known_ids, set(self.lists))
            if rejection is not None:
                return rejection
            assert isinstance(body, dict)  # check_upsert refuses anything else
            job = Job(body["contacts"], list(body.get("list_ids") or []), time.monotonic() + self.apply_delay)
            job.errors_url = f"{errors_url_base}/_sandbox/jobs/{job.id}/errors"
            self.jobs[job.id] = job
            return job

    def apply_due_jobs(self, force: bool = False) -> int:
        """Apply pending jobs in the order they came, up to the first one not yet due."""
        applied = 0
        with self.lock:
            now = time.monotonic()
            for job in self.jobs.values():
                if job.status != "pending":
                    continue
                if not force and job.due > now:
                    break
                job.apply(self.contacts, self.fields)
                applied += 1
        return applied

    def job_json(self, job_id: str, with_errors: bool = False) -> dict | None:
        """A job's status body (and its per-contact errors), read under the lock."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            return {**job.status_body(), **({"errors": list(job.errors)} if with_errors else {})}

    def search_emails(self, emails: list[str]) -> dict[str, dict]:
        with self.lock:
            result = {}
            for email in emails:
                contact = self.contacts.find_by_email(email)
                result[email] = (
                    {"contact": contact.to_sendgrid(self.fields)} if contact else {"error": "contact not found"}
                )
            return result

    def search_identifier(self, kind: str, values: list[str]) -> dict[str, dict]:
        with self.lock:
            result = {}
            for value in values:
                contact = self.contacts.find_by_identifier(kind, value)
                result[value] = (
                    {"contact": contact.to_sendgrid(self.fields)} if contact else {"error": "contact not found"}
                )
            return result

    def submit_delete(self, contact_ids: list[str]) -> DeletionJob:
        with self.lock:
            job = DeletionJob(contact_ids, time.monotonic() + self.apply_delay)
            self.jobs[job.id] = job  # type: ignore[assignment] - same interface as an import Job
            return job

    def lists_json(self) -> list[dict]:
        with self.lock:
            return [
                {"id": list_id, "name": name, "contact_count": self.contacts.count_in_list(list_id)}
                for list_id, name in self.lists.items()
            ]

    def add_list(self, list_id: str, name: str) -> None:
        with self.lock:
            self.lists[list_id] = name

    def add_group(self, group_id: int, name: str) -> None:
        with self.lock:
            self.suppressions.groups[group_id] = name

    # --- inspection and reset ------------------------------------------------------------------

    def log_request(self, entry: dict) -> None:
        with self.lock:
            self.request_log.append(entry)

    def contacts_json(self) -> list[dict]:
        with self.lock:
            out = []
            for contact in self.contacts.all():
                item = contact.to_sendgrid(self.fields)
                item["custom_fields_by_id"] = dict(contact.custom)
                out.append(item)
            return out

    def jobs_json(self) -> list[dict]:
        with self.lock:
            return [{**job.status_body(), "errors": list(job.errors)} for job in self.jobs.values()]

    def reset(self, keys: bool = False, lists: bool = False) -> None:
        """Forget what clients did; keys and lists go back to the start configuration only if asked."""
        with self.lock:
            self.contacts.clear()
            self.fields.clear()
            self.jobs.clear()
            self.request_log.clear()
            self.suppressions.clear()
            self.limiter.clear()
            self.faults = Faults()
            if keys:
                self.keys = {k: KeyRecord(frozenset(s)) for k, s in self._initial_keys.items()}
            if lists:
                self.lists = dict(self._initial_lists)
                self.suppressions.groups = dict(self._initial_groups)
