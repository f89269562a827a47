"""Per-kind mapping rules: what identify, page, Product Viewed and Order Completed write to a contact.

Each rule takes the already-validated envelope parts and returns a `KindMapping`: the contact fields (coerced
for SendGrid), the order if any, notes about values that were cut or left out, and the problems that reject
the event. Field-level oddities (a list as a first name, refused; "abc" as a Number trait, left out) are notes,
not rejections: only what the event cannot do without (its email, its order id, its revenue, its url) rejects it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from mapping.coerce import CUSTOM_TEXT_LIMIT, coerce, describe, format_date, to_standard_text, to_text
from mapping.config import MappingConfig
from mapping.result import Order
from mapping.schemas import ORDER_PROPERTIES_SCHEMA, TRAITS_SCHEMA

# Reserved contact field -> trait keys that feed it, first present wins (snake_case is Datafly's, camelCase
# is the Segment spelling some SDKs still send).
NAME_TRAITS = {
    "first_name": ("first_name", "firstName"),
    "last_name": ("last_name", "lastName"),
    "phone_number": ("phone", "phone_number"),
}
ADDRESS_TRAITS = {
    "address_line_1": ("street", "address_line_1"),
    "city": ("city",),
    "state_province_region": ("state", "region"),
    "postal_code": ("postal_code", "postalCode", "zip"),
    "country": ("country",),
}
_TRACK_NAMES = {"product viewed": "product_viewed", "order completed": "order_completed"}
_SEPARATORS = re.compile(r"[\s_\-]+")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass
class KindMapping:
    email: str | None = None
    fields: dict[str, object] = field(default_factory=dict)
    order: Order | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def put(self, name: str, value: object, field_type: str = "Text", limit: int = CUSTOM_TEXT_LIMIT) -> None:
        coerced, notes = coerce(value, field_type, name, limit)
        self.notes.extend(notes)
        if coerced is not None:
            self.fields[name] = coerced

    def put_standard(self, name: str, source: Mapping, keys: tuple[str, ...], where: str) -> None:
        """A standard contact field from the first of `keys` present in `source` (a list or object is refused)."""
        key = next((key for key in keys if source.get(key) is not None), None)
        if key is None:
            return
        text, notes = to_standard_text(source[key], name, f"{where}.{key}")
        self.notes.extend(notes)
        if text is not None:
            self.fields[name] = text


def track_kind(name: object) -> str | None:
    """'Order Completed', 'order_completed', 'ORDER-COMPLETED' -> 'order_completed'; None for other events."""
    if not isinstance(name, str) or len(name) > 100:
        return None
    return _TRACK_NAMES.get(_SEPARATORS.sub(" ", name).strip().lower())


def as_object(value: object, path: str) -> tuple[dict, list[str]]:
    """A container that may be absent (null -> {}) but, when present, must be an object."""
    if value is None:
        return {}, []
    if isinstance(value, Mapping):
        return dict(value), []
    return {}, [f"{path}: expected an object, got {describe(value)}"]


def lookup(traits: Mapping, name: str) -> object:
    """A trait by its exact key, else by a dotted path into nested objects ('company.name')."""
    if name in traits:
        return traits[name]
    node: object = traits
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def traits_email(raw_traits: object, path: str) -> tuple[dict, str | None, list[str]]:
    """(traits, normalised email, problems) for identify `traits` or `context.traits`."""
    if raw_traits is None:
        return {}, None, []
    traits, problems = TRAITS_SCHEMA.load_or_errors(raw_traits, path)
    return traits, traits.get("email"), problems


def map_identify(raw_traits: object, user_id: str | None, config: MappingConfig) -> KindMapping:
    traits, email, problems = traits_email(raw_traits, "traits")
    out = KindMapping(email=email, problems=problems)
    for name, keys in NAME_TRAITS.items():
        out.put_standard(name, traits, keys, "traits")
    address = traits.get("address")
    if isinstance(address, Mapping):
        for name, keys in ADDRESS_TRAITS.items():
            out.put_standard(name, address, keys, "traits.address")
    elif address is not None:
        out.notes.append(f"traits.address: expected an object, got {describe(address)}; address left out")
    out.put(config.user_id_field, user_id)
    for trait, name in config.trait_fields.items():
        out.put(name, lookup(traits, trait), config.field_type(name))
    return out


def map_page(raw_properties: object, context: Mapping, config: MappingConfig) -> KindMapping:
    properties, problems = as_object(raw_properties, "properties")
    out = KindMapping(problems=problems)
    if problems:
        return out
    page = context.get("page") or {}
    first_text(out, config.page_url_field, (properties.get("url"), page.get("url")),
               "properties.url: missing (and no context.page.url)")  # fmt: skip
    return out


def map_product_viewed(raw_properties: object, config: MappingConfig) -> KindMapping:
    properties, problems = as_object(raw_properties, "properties")
    out = KindMapping(problems=problems)
    if problems:
        return out
    first_text(out, config.product_id_field, (properties.get("product_id"), properties.get("sku")),
               "properties.product_id: missing (and no properties.sku)")  # fmt: skip
    return out


def first_text(out: KindMapping, field_name: str, candidates: tuple[object, ...], missing: str) -> None:
    """The first candidate that is text sets the field; none at all is the problem `missing`."""
    for value in candidates:
        text, notes = to_text(value, field_name)
        if text is not None:
            out.fields[field_name] = text
            out.notes.extend(notes)
            return
    out.problems.append(missing)


def map_order_completed(raw_properties: object, timestamp: datetime, config: MappingConfig) -> KindMapping:
    """The order for the worker's lifetime value, and last_purchase_at (the event's UTC date)."""
    if raw_properties is None:
        raw_properties = {}
    properties, problems = ORDER_PROPERTIES_SCHEMA.load_or_errors(raw_properties, "properties")
    revenue = properties.get("revenue")
    if revenue is not None:  # revenue present and valid: a broken `total` does not matter
        problems = [p for p in problems if not p.startswith("properties.total:")]
    out = KindMapping(problems=problems)
    if problems:
        return out
    if revenue is None:
        revenue = properties.get("total")
    order_id = properties.get("order_id")
    if order_id is None:  # present but blank
        out.problems.append("properties.order_id: missing")
        return out
    currency = properties.get("currency")
    code = currency.strip().upper() if isinstance(currency, str) else None
    if currency is not None and code != "" and (code is None or not _CURRENCY.fullmatch(code)):
        out.notes.append(f"properties.currency: {describe(currency)} is not a 3-letter code; left out")
    if code is None or not _CURRENCY.fullmatch(code):
        code = None
    out.order = Order(order_id=order_id, revenue=Decimal(0) if revenue is None else revenue, currency=code)
    out.fields[config.last_purchase_field] = format_date(timestamp)
    return out
