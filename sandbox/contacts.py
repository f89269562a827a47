"""The contacts of the account, and how an import job applies an upsert to them.

Not thread-safe on its own: :class:`sandbox.state.SandboxState` holds the lock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sandbox.fields import CONTACT_TEXT_FIELDS, IDENTIFIERS, FieldRegistry, coerce_custom


@dataclass
class Contact:
    id: str
    identifiers: dict[str, str]
    reserved: dict[str, object] = field(default_factory=dict)
    custom: dict[str, object] = field(default_factory=dict)
    list_ids: set[str] = field(default_factory=set)
    created_at: str = ""
    updated_at: str = ""

    def to_sendgrid(self, fields: FieldRegistry) -> dict:
        """The contact as SendGrid returns it: custom fields keyed by name."""
        by_name = {}
        for field_id, value in self.custom.items():
            definition = fields.get(field_id)
            if definition is not None:
                by_name[definition.name] = value
        return {
            "id": self.id,
            **self.identifiers,
            **self.reserved,
            "custom_fields": by_name,
            "list_ids": sorted(self.list_ids),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class ContactOutcome:
    """What the job did with one contact: ``created``, ``updated`` or ``errored`` (with a message)."""

    result: str
    message: str = ""


class ContactStore:
    def __init__(self) -> None:
        self._contacts: dict[str, Contact] = {}
        self._index: dict[tuple[str, str], str] = {}

    def all(self) -> list[Contact]:
        return list(self._contacts.values())

    def clear(self) -> None:
        self._contacts.clear()
        self._index.clear()

    def find_by_email(self, email: str) -> Contact | None:
        contact_id = self._index.get(("email", email.strip().lower()))
        return self._contacts.get(contact_id) if contact_id else None

    def find_by_identifier(self, kind: str, value: str) -> Contact | None:
        value = value.strip().lower() if kind == "email" else value.strip()
        contact_id = self._index.get((kind, value))
        return self._contacts.get(contact_id) if contact_id else None

    def delete(self, contact_id: str) -> bool:
        contact = self._contacts.pop(contact_id, None)
        if contact is None:
            return False
        for key, value in contact.identifiers.items():
            if self._index.get((key, value)) == contact_id:
                del self._index[(key, value)]
        return True

    def count_in_list(self, list_id: str) -> int:
        return sum(1 for c in self._contacts.values() if list_id in c.list_ids)

    def upsert(self, raw: dict, list_ids: list[str], fields: FieldRegistry, now: str) -> ContactOutcome:
        """Apply one contact of an import job; an errored contact changes nothing."""
        ids = {name: raw[name].strip() for name in IDENTIFIERS if isinstance(raw.get(name), str) and raw[name]}
        if "email" in ids:
            ids["email"] = ids["email"].lower()
        try:
            reserved, custom = _coerce_values(raw, fields)
        except ValueError as exc:
            return ContactOutcome("errored", str(exc))
        matches = {self._index[(k, v)] for k, v in ids.items() if (k, v) in self._index}
        if len(matches) > 1:
            return ContactOutcome("errored", "the identifiers belong to different existing contacts")
        if not matches:
            contact = Contact(str(uuid.uuid4()), ids, created_at=now)
            self._contacts[contact.id] = contact
            result = "created"
        else:
            contact = self._contacts[matches.pop()]
            # "To update a contact, all of its existing identifiers must be present." Which status
            # SendGrid gives a contact that breaks the rule is unconfirmed; the sandbox errors that
            # contact in the import job and leaves the rest of the request alone.
            missing = sorted(k for k, v in contact.identifiers.items() if ids.get(k) != v)
            if missing:
                message = "all existing identifiers must be present to update a contact; missing " + ",".join(missing)
                return ContactOutcome("errored", message)
            contact.identifiers.update(ids)
            result = "updated"
        for key, value in ids.items():
            self._index[(key, value)] = contact.id
        _merge(contact.reserved, reserved)
        _merge(contact.custom, custom)
        contact.list_ids.update(list_ids)
        contact.updated_at = now
        return ContactOutcome(result)


def _coerce_values(raw: dict, fields: FieldRegistry) -> tuple[dict, dict]:
    """Reserved and custom values as stored; fields left out of ``raw`` are left out here too."""
    reserved: dict[str, object] = {}
    for name in CONTACT_TEXT_FIELDS:
        if name in raw:
            value = raw[name]
            if value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
                raise ValueError(f"{name} must be text")
            reserved[name] = value if value is None or isinstance(value, str) else str(value)
    if "alternate_emails" in raw:
        emails = raw["alternate_emails"]
        if not isinstance(emails, list) or len(emails) > 5 or not all(isinstance(e, str) for e in emails):
            raise ValueError("alternate_emails must be a list of at most 5 emails")
        reserved["alternate_emails"] = [e.strip().lower() for e in emails]
    custom: dict[str, object] = {}
    for field_id, value in (raw.get("custom_fields") or {}).items():
        definition = fields.get(field_id)
        if definition is None:  # removed by a reset after the request was accepted
            raise ValueError(f"custom field {field_id} no longer exists")
        try:
            custom[field_id] = coerce_custom(definition, value)
        except ValueError as exc:
            raise ValueError(
                f"custom field '{definition.name}' ({field_id}) expects a {definition.field_type}: {exc}"
            ) from None
    return reserved, custom


def _merge(stored: dict, incoming: dict) -> None:
    """Partial update: keys left out keep their value; ``null`` clears one."""
    for key, value in incoming.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
