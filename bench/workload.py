"""The benchmark's event mix: 60% page, 20% Product Viewed, 10% identify, 5% Order Completed, 5% other.

Events are shaped like those a browser SDK sends (about 770 bytes): a `context` with the page, the user agent,
the IP, the locale, the library, sometimes a campaign, and the visitor's consent (one visitor in twenty has
said no to marketing). `shape="minimal"` gives the bare envelope the first two sessions measured with
(about 200 bytes), to compare with their figures.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 1, tzinfo=UTC)
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0",
)
SHOP = "https://shop.example"


def _context(rng: random.Random, user: int, path: str, title: str) -> dict:
    context = {
        "library": {"name": "datafly.js", "version": "2.4.1"},
        "ip": f"203.0.{user % 256}.{(user * 7) % 256}",
        "locale": ("en-GB", "de-DE", "fr-FR", "en-US")[user % 4],
        "userAgent": AGENTS[user % len(AGENTS)],
        "page": {"path": path, "referrer": f"{SHOP}/c/{rng.randrange(40)}", "title": title, "url": SHOP + path},
        "consent": {"analytics": True, "marketing": user % 20 != 0, "functional": True, "advertising": False},
    }
    if rng.random() < 0.2:
        context["campaign"] = {"name": "winter-sale", "source": "newsletter", "medium": "email"}
    return context


def events(count: int, users: int = 20_000, seed: int = 7, prefix: str = "b", shape: str = "full") -> list[bytes]:
    """`count` events as JSON bodies, ready to publish; deterministic for a seed."""
    rng = random.Random(seed)
    bodies = []
    for n in range(count):
        user = rng.randrange(users)
        at = (START + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z")
        base = {"messageId": f"{prefix}-{n}", "timestamp": at, "userId": f"user-{user}", "anonymousId": f"anon-{user}"}
        roll = rng.random()
        # (random draws for the full shape come after the minimal shape's, so minimal stays the earlier workload)
        path = f"/p/{rng.randrange(5000)}" if roll < 0.60 or shape == "full" else ""
        title = f"Product {path[3:]} | Shop"
        if roll < 0.60:
            event = base | {"type": "page", "properties": {"url": SHOP + path}}
            if shape == "full":
                props = {"path": path, "title": title, "referrer": f"{SHOP}/c/{rng.randrange(40)}"}
                event |= {"name": "Product", "properties": event["properties"] | props}
        elif roll < 0.80:
            props = {"product_id": f"SKU-{rng.randrange(3000)}", "price": "19.90"}
            if shape == "full":
                props |= {"name": title[:-7], "category": "Shoes", "currency": "EUR"}
            event = base | {"type": "track", "event": "Product Viewed", "properties": props}
        elif roll < 0.90:
            traits = {"email": f"user{user}@example.com", "first_name": f"First{user}", "last_name": "Bench"}
            event = base | {"type": "identify", "traits": traits}
        elif roll < 0.95:
            props = {"order_id": f"o-{n}", "revenue": f"{rng.randrange(100, 20000) / 100:.2f}", "currency": "EUR"}
            if shape == "full":
                props["products"] = [{"product_id": f"SKU-{rng.randrange(3000)}", "quantity": 1, "price": "19.90"}]
            event = base | {"type": "track", "event": "Order Completed", "properties": props}
        else:
            event = base | {"type": "track", "event": "Cart Viewed", "properties": {}}
        if shape == "full":
            event["context"] = _context(rng, user, path, title)
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
