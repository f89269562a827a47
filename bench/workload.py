"""The benchmark's event mix: 60% page, 20% Product Viewed, 10% identify, 5% Order Completed, 5% other."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 1, tzinfo=UTC)


def events(count: int, users: int = 20_000, seed: int = 7, prefix: str = "b") -> list[bytes]:
    """`count` events as JSON bodies, ready to publish; deterministic for a seed."""
    rng = random.Random(seed)
    bodies = []
    for n in range(count):
        user = rng.randrange(users)
        at = (START + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
        base = {"messageId": f"{prefix}-{n}", "timestamp": at, "userId": f"user-{user}", "anonymousId": f"anon-{user}"}
        roll = rng.random()
        if roll < 0.60:
            event = base | {"type": "page", "properties": {"url": f"https://shop.example/p/{rng.randrange(5000)}"}}
        elif roll < 0.80:
            props = {"product_id": f"SKU-{rng.randrange(3000)}", "price": "19.90"}
            event = base | {"type": "track", "event": "Product Viewed", "properties": props}
        elif roll < 0.90:
            traits = {"email": f"user{user}@example.com", "first_name": f"First{user}", "last_name": "Bench"}
            event = base | {"type": "identify", "traits": traits}
        elif roll < 0.95:
            props = {"order_id": f"o-{n}", "revenue": f"{rng.randrange(100, 20000) / 100:.2f}", "currency": "EUR"}
            event = base | {"type": "track", "event": "Order Completed", "properties": props}
        else:
            event = base | {"type": "track", "event": "Cart Viewed", "properties": {}}
        bodies.append(json.dumps(event).encode())
    return bodies


def identifies(users: int = 20_000, prefix: str = "id") -> list[bytes]:
    """One identify per user, so every later event of theirs has an email (used before the latency phase)."""
    at = (START - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {
                "messageId": f"{prefix}-{u}",
                "type": "identify",
                "timestamp": at,
                "userId": f"user-{u}",
                "anonymousId": f"anon-{u}",
                "traits": {"email": f"user{u}@example.com"},
            }  # fmt: skip
        ).encode()
        for u in range(users)
    ]
