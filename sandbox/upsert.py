"""Request-level checks of ``PUT /v3/marketing/contacts``: what rejects the whole request.

Everything here happens before the 202: size limits, identifiers, email syntax, unknown custom
field ids and unknown lists. What SendGrid only reports later (a wrong value type, a missing
existing identifier) belongs to the import job, in :mod:`sandbox.contacts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sandbox.fields import IDENTIFIERS

MAX_CONTACTS = 30_000
# "6 MB": SendGrid does not say whether it means 10^6 or 2^20. The sandbox takes the lower
# reading, so a client that fits here fits live whatever SendGrid meant.
MAX_BODY_BYTES = 6_000_000
# The status SendGrid gives an oversized request is unconfirmed (413 or 400); the sandbox says 413.
OVERSIZE_STATUS = 413

_EMAIL_RE = re.compile(r"^[^@\s\"(),:;<>\[\]\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")


def error(field_name: str | None, message: str) -> dict:
    """One entry of SendGrid's ``{"errors": [...]}`` body."""
    return {"field": field_name, "message": message}


@dataclass
class Rejection:
    """The whole request is refused with ``status`` and these error entries."""

    status: int
    errors: list[dict] = field(default_factory=list)


def is_valid_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL_RE.match(value))


def check_size(body_bytes: int) -> Rejection | None:
    if body_bytes > MAX_BODY_BYTES:
        message = f"request body is {body_bytes} bytes; the maximum is {MAX_BODY_BYTES}"
        return Rejection(OVERSIZE_STATUS, [error(None, message)])
    return None


def check_upsert(body: object, known_field_ids: set[str], known_lists: set[str]) -> Rejection | None:
    """Return why the request is refused as a whole, or None when a job should be queued."""
    if not isinstance(body, dict):
        return Rejection(400, [error(None, "request body must be a JSON object")])
    contacts = body.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        return Rejection(400, [error("contacts", "contacts must be a list of 1 to 30000 contacts")])
    if len(contacts) > MAX_CONTACTS:
        message = f"{len(contacts)} contacts sent; the maximum is {MAX_CONTACTS}"
        return Rejection(OVERSIZE_STATUS, [error("contacts", message)])
    errors: list[dict] = []
    unknown_ids: dict[str, None] = {}
    for index, contact in enumerate(contacts):
        errors.extend(_contact_errors(index, contact))
        custom = contact.get("custom_fields") if isinstance(contact, dict) else None
        if isinstance(custom, dict):
            unknown_ids.update(dict.fromkeys(k for k in custom if k not in known_field_ids))
        elif custom is not None:
            errors.append(error(f"contacts[{index}].custom_fields", "custom_fields must be an object"))
    if unknown_ids:
        errors.append(error("custom_fields", "invalid custom field ids supplied - " + ",".join(unknown_ids)))
    errors.extend(_list_errors(body.get("list_ids"), known_lists))
    return Rejection(400, errors) if errors else None


def _contact_errors(index: int, contact: object) -> list[dict]:
    where = f"contacts[{index}]"
    if not isinstance(contact, dict):
        return [error(where, "contact must be an object")]
    errors = []
    present = [name for name in IDENTIFIERS if contact.get(name) not in (None, "")]
    if not present:
        message = "at least one identifier is required: email, phone_number_id, external_id or anonymous_id"
        errors.append(error(f"{where}.identifier", message))
    for name in present:
        value = contact[name]
        if not isinstance(value, str):
            errors.append(error(f"{where}.{name}", f"{name} must be a string"))
        elif name == "email" and not is_valid_email(value):
            errors.append(error(f"{where}.email", f"email '{value}' is not valid"))
        elif name == "phone_number_id" and not _E164_RE.match(value):
            errors.append(error(f"{where}.phone_number_id", f"phone_number_id '{value}' is not E.164"))
    return errors


def _list_errors(list_ids: object, known_lists: set[str]) -> list[dict]:
    # The status for an unknown list is unconfirmed (400 or 404); the sandbox answers 400 naming list_ids.
    if list_ids is None:
        return []
    if not isinstance(list_ids, list) or not all(isinstance(i, str) for i in list_ids):
        return [error("list_ids", "list_ids must be a list of list ids")]
    return [error("list_ids", f"list_ids: unknown list id {i}") for i in list_ids if i not in known_lists]
