"""Keyed hashes of identifiers: what an erasure keeps of the person, and how processing recognises them.

HMAC-SHA256 under a key derived (HKDF) from each Fernet key of SIGNAL_SECRET_KEY. New records use the newest
key; matching tries every key listed, so an erasure made before a key rotation is still recognised while the
old key stays in the list (SIGNAL_SECRET_KEY=new,old). Without the secret a digest cannot be tested against a
guessed email, which a plain hash of an email would allow.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.secrets import secret_for
from config.settings import Settings, load_settings

KINDS = ("email", "user", "anonymous")


def normalize(kind: str, value: str) -> str:
    """Emails compare case-insensitively (SendGrid lower-cases them); ids exactly."""
    return value.strip().lower() if kind == "email" else value


class Hasher:
    def __init__(self, secret: str) -> None:
        self._keys = [_derive(key.strip()) for key in secret.split(",") if key.strip()]
        # The same people come back batch after batch: their digests are kept (about 20 µs each to compute).
        self._cached = lru_cache(maxsize=50_000)(self._compute)  # about 12 MB

    def __repr__(self) -> str:  # never the keys
        return f"Hasher({len(self._keys)} keys)"

    def digest(self, kind: str, value: str) -> str:
        """The digest new records store (newest key)."""
        return _hmac(self._keys[0], kind, value)

    def digests(self, kind: str, value: str) -> list[str]:
        """The digests under every key (what matching looks for)."""
        return list(self._cached(kind, value))

    def _compute(self, kind: str, value: str) -> tuple[str, ...]:
        return tuple(_hmac(key, kind, value) for key in self._keys)

    def lookup(self, identifiers: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
        """digest -> (kind, value), every key, for a set of (kind, value) identifiers."""
        return {d: ident for ident in set(identifiers) for d in self.digests(*ident)}


def _derive(fernet_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"signal-sendgrid", info=b"erasure-digest")
    return hkdf.derive(fernet_key.encode())


def _hmac(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{normalize(kind, value)}".encode(), hashlib.sha256).hexdigest()


def hasher_for(settings: Settings) -> Hasher:
    return _cached(secret_for(settings))


@lru_cache(maxsize=4)
def _cached(secret: str) -> Hasher:
    return Hasher(secret)


_bound: dict[str, Settings] = {}


def bind(settings: Settings) -> None:
    """The settings processing reads the secret from (the demo binds its own; else the environment's)."""
    _bound["settings"] = settings


def current_hasher() -> Hasher:
    return hasher_for(_bound.get("settings") or load_settings())
