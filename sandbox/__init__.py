"""A local stand-in for SendGrid's Marketing Contacts API (issue #2).

This module owns the public constants of the sandbox and the helpers that turn key specs
(``SG.xxx`` or ``SG.xxx:scope1,scope2``) into keys with scopes. The server itself lives in
:mod:`sandbox.server`, the HTTP routes in :mod:`sandbox.app`, the state in :mod:`sandbox.state`.
"""

from __future__ import annotations

import base64
import hashlib

# Every scope the sandbox knows. A key given without scopes gets all of them.
DEFAULT_SCOPES: tuple[str, ...] = (
    "marketing_campaigns.create",
    "marketing_campaigns.read",
    "marketing_campaigns.update",
    "marketing_campaigns.delete",
    "asm.groups.read",
    "asm.groups.suppressions.create",
    "asm.groups.suppressions.read",
    "asm.groups.suppressions.delete",
    "asm.suppressions.global.create",
    "asm.suppressions.global.read",
    "asm.suppressions.global.delete",
    "scopes.read",
)

# A public demo key: 69 characters, shaped like a real one (SG.<22>.<43>). Not a secret.
DEFAULT_KEY = "SG.SandboxDemoKeyPublic00.signal-sendgrid-sandbox-demo-key-not-secret"
# A list that exists unless the server is given other lists.
DEFAULT_LIST_ID = "5f3c1a2e-8d4b-4c6a-9e7f-0a1b2c3d4e5f"
DEFAULT_LIST_NAME = "Sandbox list"
# An unsubscribe group that exists unless the server is given other groups.
DEFAULT_GROUP_ID = 101
DEFAULT_GROUP_NAME = "Sandbox group"


def make_key(label: str) -> str:
    """Return a deterministic, valid-looking 69-character key for ``label`` (tests, demos)."""

    def part(prefix: str, length: int) -> str:
        digest = hashlib.sha256(f"{prefix}:{label}".encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]

    return f"SG.{part('id', 22)}.{part('secret', 43)}"


def parse_key_spec(spec: str) -> tuple[str, list[str]]:
    """Split ``SG.xxx:scope1,scope2`` into the key and its scopes; no scopes means all scopes."""
    key, _, scopes = spec.partition(":")
    if not scopes:
        return key, list(DEFAULT_SCOPES)
    return key, [scope.strip() for scope in scopes.split(",") if scope.strip()]


def keys_from_specs(specs: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """Turn several key specs into the ``{key: scopes}`` mapping the server takes."""
    return dict(parse_key_spec(spec) for spec in specs)


def mask_key(key: str) -> str:
    """Show a key the way a log may: the demo key in full, any other key masked."""
    if key == DEFAULT_KEY:
        return key
    return f"{key[:5]}...{key[-4:]}" if len(key) > 12 else "***"
