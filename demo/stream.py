"""The demo's sample stream: a realistic day of one small shop, including what goes wrong."""

from __future__ import annotations

import json

T = "2026-11-20T09:{:02d}:00Z"


def sample_lines() -> list[str]:
    """Newline-delimited events as an upstream service would publish them (one line is not even JSON)."""
    events = [
        {"messageId": "m-001", "type": "identify", "timestamp": T.format(0), "userId": "u-ann",
         "anonymousId": "anon-ann", "traits": {"email": " Ann.Lee@Example.com ", "first_name": "Ann",
         "last_name": "Lee", "phone": "+4915112345678",
         "address": {"street": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
         "context": {"consent": {"marketing": True}}},
        {"messageId": "m-002", "type": "page", "timestamp": T.format(1), "userId": "u-ann",
         "properties": {"url": "https://shop.example/boots", "title": "Boots"}},
        {"messageId": "m-003", "type": "track", "event": "Product Viewed", "timestamp": T.format(2),
         "userId": "u-ann", "properties": {"product_id": "SKU-BOOT-42", "price": "89.90"}},
        {"messageId": "m-004", "type": "track", "event": "Order Completed", "timestamp": T.format(3),
         "userId": "u-ann", "properties": {"order_id": "o-1001", "revenue": "89.90", "currency": "EUR"}},
        # The same order again (a producer retry): lifetime value must not count it twice.
        {"messageId": "m-005", "type": "track", "event": "order_completed", "timestamp": T.format(3),
         "userId": "u-ann", "properties": {"order_id": "o-1001", "revenue": "89.90", "currency": "EUR"}},
        {"messageId": "m-006", "type": "track", "event": "Order Completed", "timestamp": T.format(9),
         "userId": "u-ann", "properties": {"order_id": "o-1002", "total": 25, "currency": "EUR"}},
        # An anonymous visitor browses first and signs up later: the page waits for the identify.
        {"messageId": "m-007", "type": "page", "timestamp": T.format(4), "anonymousId": "anon-bob",
         "context": {"page": {"url": "https://shop.example/sale"}}},
        {"messageId": "m-008", "type": "identify", "timestamp": T.format(6), "userId": "u-bob",
         "anonymousId": "anon-bob", "traits": {"email": "bob@example.com", "first_name": "Bob"}},
        # A visitor who said no to marketing: nothing of theirs is sent.
        {"messageId": "m-009", "type": "identify", "timestamp": T.format(7), "userId": "u-cem",
         "traits": {"email": "cem@example.com", "first_name": "Cem"}, "context": {"consent": {"marketing": False}}},
        # The exact same message delivered twice by the broker.
        {"messageId": "m-002", "type": "page", "timestamp": T.format(1), "userId": "u-ann",
         "properties": {"url": "https://shop.example/boots", "title": "Boots"}},
        # Malformed: the email is not an email.
        {"messageId": "m-010", "type": "identify", "timestamp": T.format(8), "userId": "u-dan",
         "traits": {"email": "dan-at-example"}},
        # Not for this destination.
        {"messageId": "m-011", "type": "screen", "timestamp": T.format(8), "userId": "u-ann", "name": "Home"},
    ]  # fmt: skip
    lines = [json.dumps(e) for e in events]
    lines.insert(9, '{"messageId": "m-broken", "type": "identify", "traits": {')  # cut off mid-write
    return lines
