"""Volume: one request per 30,000 contacts, split by body size under 6,000,000 bytes, 413 split and re-sent."""

from __future__ import annotations

import json

import pytest

from models import DeliveryStatus
from tests.helpers.delivery import (
    deliveries,
    flush,
    puts,
    queue_deliveries,
    queue_many,
    settle_imports,
    status_counts,
    upsert_attempts,
)
from workers.delivery.chunks import MAX_BODY_BYTES, MAX_CONTACTS, split
from workers.delivery.request import Chunk, Outgoing, request_body

pytestmark = pytest.mark.integration


def contacts(count: int, prefix: str = "c", url_length: int = 0) -> list[tuple[str, dict]]:
    patch = {"first_name": "Vol"}
    if url_length:
        patch["last_page_url"] = "https://shop.example/" + "p" * (url_length - 21)
    return [(f"{prefix}{i:06d}@example.com", patch) for i in range(count)]


def test_ten_thousand_queued_contacts_go_out_in_one_request(db, sandbox, integration, client_for):
    queue_many(db, integration.id, 10_000, patch={"first_name": "Vol"})

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.sent, report.failed) == (1, 10_000, 0)
    [put] = puts(sandbox)
    assert (put["status"], put["contacts"]) == (202, 10_000)
    assert put["body_bytes"] <= MAX_BODY_BYTES
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 10_000}
    assert len(sandbox.contacts()) == 10_000


def test_forty_thousand_contacts_go_out_in_two_requests(db, sandbox, integration, client_for):
    queue_many(db, integration.id, 40_000, patch={"first_name": "Vol"})

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.sent, report.failed) == (2, 40_000, 0)
    log = puts(sandbox)
    assert sorted((r["status"], r["contacts"]) for r in log) == [(202, 10_000), (202, MAX_CONTACTS)]
    assert all(r["body_bytes"] <= MAX_BODY_BYTES for r in log)
    assert [a.contacts_count for a in upsert_attempts(db)] == [r["contacts"] for r in log]
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 40_000}
    assert len(sandbox.contacts()) == 40_000


def test_a_body_over_six_megabytes_is_split_by_size(db, sandbox, integration, client_for):
    # 7,000 contacts of ~950 bytes: ~6.6 MB, far under 30,000 contacts, so only the size splits it.
    queue_many(db, integration.id, 7_000, patch=contacts(1, url_length=900)[0][1])

    report = flush(db, integration.id, client_for)

    log = puts(sandbox)
    assert (report.requests, report.sent, report.failed) == (2, 7_000, 0)
    assert [r["status"] for r in log] == [202, 202]
    assert sum(r["contacts"] for r in log) == 7_000
    assert all(r["body_bytes"] <= MAX_BODY_BYTES for r in log)
    assert sum(r["body_bytes"] for r in log) > MAX_BODY_BYTES  # it really needed two requests
    # Greedy: the first request is filled up to the limit, less than one contact short of it.
    assert max(r["body_bytes"] for r in log) > MAX_BODY_BYTES - 1_000
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 7_000}
    assert len(sandbox.contacts()) == 7_000


def test_a_413_splits_the_request_in_two_and_sends_both_halves(db, sandbox, integration, client_for, monkeypatch):
    # A SendGrid whose limit is lower than ours (its "6 MB" is unconfirmed): the in-process sandbox takes
    # 41,000 bytes. 400 contacts of 200 bytes (80,066 bytes) are refused, both halves (40,066) accepted.
    monkeypatch.setattr("sandbox.upsert.MAX_BODY_BYTES", 41_000)
    ids = queue_deliveries(db, integration.id, contacts(400, url_length=120))

    report = flush(db, integration.id, client_for)

    log = puts(sandbox)
    assert [r["status"] for r in log] == [413, 202, 202]
    assert [r["contacts"] for r in log[1:]] == [200, 200]  # a 413 for size is answered before parsing
    assert log[0]["body_bytes"] > 41_000 >= max(r["body_bytes"] for r in log[1:])
    assert (report.requests, report.sent, report.failed) == (3, 400, 0)
    attempts = upsert_attempts(db)
    assert [(a.status_code, a.contacts_count) for a in attempts] == [(413, 400), (202, 200), (202, 200)]
    assert "maximum is 41000" in attempts[0].error
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 400}
    assert sorted(c["email"] for c in sandbox.contacts()) == sorted(email for email, _ in contacts(400))
    assert len(ids) == 400


def test_a_413_keeps_halving_until_each_part_fits(db, sandbox, integration, client_for, monkeypatch):
    monkeypatch.setattr("sandbox.upsert.MAX_BODY_BYTES", 21_000)
    queue_deliveries(db, integration.id, contacts(400, url_length=120))  # 80 kB; halves 40 kB; quarters 20 kB

    report = flush(db, integration.id, client_for)

    log = puts(sandbox)
    assert sorted(r["status"] for r in log) == [202] * 4 + [413] * 3  # 1 whole + 2 halves refused, 4 quarters
    assert sorted(r["contacts"] for r in log if r["status"] == 202) == [100] * 4
    assert (report.sent, report.failed) == (400, 0)
    settle_imports(db, sandbox, client_for)
    assert status_counts(db) == {"succeeded": 400}


def test_a_single_contact_refused_with_413_fails_instead_of_looping(db, sandbox, integration, client_for, monkeypatch):
    monkeypatch.setattr("sandbox.upsert.MAX_BODY_BYTES", 100)
    queue_deliveries(db, integration.id, contacts(1, url_length=200))

    report = flush(db, integration.id, client_for)

    assert (report.requests, report.failed) == (1, 1)
    [delivery] = deliveries(db)
    assert (delivery.status, delivery.status_code, delivery.attempts) == (DeliveryStatus.FAILED, 413, 1)
    assert delivery.reason.startswith("SendGrid answered 413: request body is ")


def test_split_respects_both_limits():
    def out(i: int, size: int) -> Outgoing:
        body = json.dumps({"email": f"s{i}@example.com", "x": "y" * size}).encode()
        return Outgoing(f"s{i}@example.com", {}, [], body)

    small = [out(i, 0) for i in range(MAX_CONTACTS * 2 + 1)]
    chunks = split(["l"], small)
    assert [len(c.contacts) for c in chunks] == [MAX_CONTACTS, MAX_CONTACTS, 1]

    big = [out(i, 100_000) for i in range(130)]  # ~100 kB each: 59 fit under 6,000,000 bytes with the commas
    chunks = split(["l"], big)
    assert all(len(request_body(c)) <= MAX_BODY_BYTES for c in chunks)
    assert [len(c.contacts) for c in chunks] == [59, 59, 12]
    assert len(request_body(Chunk(["l"], big[:60]))) > MAX_BODY_BYTES  # one more would not have fitted
