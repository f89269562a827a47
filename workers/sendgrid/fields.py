"""Custom fields: resolve the names the mapping writes to SendGrid's opaque ids, creating what is missing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workers.sendgrid.client import SendGridClient, SendGridResponse


@dataclass
class FieldResolution:
    ids: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    type_mismatches: list[str] = field(default_factory=list)
    error: str | None = None


def resolve_fields(
    client: SendGridClient,
    required: Mapping[str, str],
    record: Callable[[SendGridResponse], None] = lambda r: None,
) -> FieldResolution:
    """Look every required field (name -> type) up by name, case-insensitively; create the missing ones."""
    result = FieldResolution()
    answer = client.field_definitions()
    record(answer)
    if not answer.ok:
        result.error = f"reading custom fields failed: {answer.message}"
        return result
    existing = {f["name"].lower(): f for f in (answer.body or {}).get("custom_fields", []) if "name" in f}
    for name, field_type in required.items():
        found = existing.get(name.lower())
        if found is None:
            created = client.create_field(name, field_type)
            record(created)
            if not created.ok or not isinstance(created.body, dict) or "id" not in created.body:
                result.error = f"creating custom field {name!r} ({field_type}) failed: {created.message}"
                return result
            result.ids[name] = created.body["id"]
            result.created.append(name)
            continue
        result.ids[name] = found["id"]
        if found.get("field_type") and found["field_type"] != field_type:
            result.type_mismatches.append(
                f"{name} is {found['field_type']} in SendGrid, the mapping writes {field_type}"
            )
    return result
