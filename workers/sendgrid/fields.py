"""Custom fields: resolve the names the mapping writes to SendGrid's opaque ids, creating what is missing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from workers.sendgrid.client import SendGridClient, SendGridResponse

MAX_CUSTOM_FIELDS = 500  # SendGrid's cap per account (field_definitions)


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
    missing = [name for name in required if name.lower() not in existing]
    if len(existing) + len(missing) > MAX_CUSTOM_FIELDS:  # checked before any field is created
        result.error = (
            f"the mapping needs {len(missing)} new custom fields ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}) but the SendGrid account has {len(existing)} of its "
            f"{MAX_CUSTOM_FIELDS} and room for {max(MAX_CUSTOM_FIELDS - len(existing), 0)}: delete unused fields "
            "under Marketing > Custom Fields, or map fewer traits"
        )
        return result
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
