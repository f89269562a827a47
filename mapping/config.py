"""Per-integration mapping configuration: custom field names, trait mappings and the consent policy.

Custom field names are checked against SendGrid's naming rules when the config is built, so a bad
`--field TRAIT=FIELD_NAME` fails at configuration time instead of on every event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from mapping.coerce import FIELD_TYPES

# SendGrid's reserved contact field names; a custom field may not use any of them (case-insensitively).
RESERVED_FIELD_NAMES = frozenset(
    {
        "address_line_1",
        "address_line_2",
        "alternate_emails",
        "anonymous_id",
        "automation_id",
        "city",
        "contact_id",
        "country",
        "created_at",
        "custom_fields",
        "email",
        "email_domains",
        "external_id",
        "facebook",
        "first_name",
        "last_clicked",
        "last_emailed",
        "last_name",
        "last_opened",
        "line",
        "phone_number",
        "phone_number_id",
        "postal_code",
        "singlesend_id",
        "state_province_region",
        "unique_name",
        "updated_at",
        "whatsapp",
    }
)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_NAME_KEYS = ("user_id_field", "page_url_field", "product_id_field", "last_purchase_field", "lifetime_value_field")


@dataclass(frozen=True)
class MappingConfig:
    """How events become contact fields for one SendGrid integration."""

    user_id_field: str = "signal_user_id"
    page_url_field: str = "last_page_url"
    product_id_field: str = "last_product_id"
    last_purchase_field: str = "last_purchase_at"
    lifetime_value_field: str = "lifetime_value"
    trait_fields: Mapping[str, str] = field(default_factory=dict)  # trait name -> custom field name
    field_types: Mapping[str, str] = field(default_factory=dict)  # trait custom field name -> Text|Number|Date
    require_consent: bool = False

    def __post_init__(self) -> None:
        for key in _NAME_KEYS:
            check_field_name(getattr(self, key), key)
        if not isinstance(self.trait_fields, Mapping) or not isinstance(self.field_types, Mapping):
            raise ValueError("trait_fields and field_types must be objects")
        for trait, name in self.trait_fields.items():
            if not isinstance(trait, str) or not trait:
                raise ValueError(f"trait_fields: trait name {trait!r} must be a non-empty string")
            check_field_name(name, f"trait_fields[{trait!r}]")
        types: dict[str, str] = {}
        for name, kind in self.field_types.items():
            canonical = next((t for t in FIELD_TYPES if isinstance(kind, str) and t.lower() == kind.lower()), None)
            if canonical is None:
                raise ValueError(f"field_types[{name!r}]: {kind!r} is not one of {', '.join(FIELD_TYPES)}")
            if name not in self.trait_fields.values():
                raise ValueError(f"field_types[{name!r}]: not a field named in trait_fields")
            types[name] = canonical
        if not isinstance(self.require_consent, bool):
            raise ValueError(f"require_consent: expected true or false, got {self.require_consent!r}")
        seen: dict[str, str] = {}
        for name in [getattr(self, key) for key in _NAME_KEYS]:
            if name.lower() in seen:
                raise ValueError(f"custom field {name!r} is configured twice")
            seen[name.lower()] = name
        for name in self.trait_fields.values():
            if name.lower() in seen:  # two traits into one field would make the value depend on key order
                raise ValueError(f"custom field {name!r} is configured twice")
            seen[name.lower()] = name
        # Own copies, so the caller's dicts can change without changing the config. Plain dicts (not
        # MappingProxyType) keep the config picklable for Celery.
        object.__setattr__(self, "trait_fields", dict(self.trait_fields))
        object.__setattr__(self, "field_types", types)

    def required_fields(self) -> dict[str, str]:
        """Every custom field the mapping may write -> its SendGrid field type."""
        required = {
            self.user_id_field: "Text",
            self.page_url_field: "Text",
            self.product_id_field: "Text",
            self.last_purchase_field: "Date",
            self.lifetime_value_field: "Number",
        }
        for name in self.trait_fields.values():
            required[name] = self.field_type(name)
        return required

    def field_type(self, name: str) -> str:
        return self.field_types.get(name, "Text")

    @classmethod
    def from_dict(cls, data: Mapping) -> MappingConfig:
        """Build from stored integration config JSON; unknown keys (api_key, default_list_id...) are ignored."""
        if not isinstance(data, Mapping):
            raise ValueError(f"mapping config: expected an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def to_dict(self) -> dict:
        return {
            **{key: getattr(self, key) for key in _NAME_KEYS},
            "trait_fields": dict(self.trait_fields),
            "field_types": dict(self.field_types),
            "require_consent": self.require_consent,
        }


def check_field_name(name: object, where: str) -> None:
    """Raise ValueError unless `name` is a valid SendGrid custom field name."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise ValueError(
            f"{where}: {name!r} is not a valid SendGrid custom field name "
            "(letters, digits and _, starting with a letter or _, at most 100 characters)"
        )
    if name.lower() in RESERVED_FIELD_NAMES:
        raise ValueError(f"{where}: {name!r} is a SendGrid reserved field name; choose another")


def parse_field_option(option: str) -> tuple[str, str]:
    """Parse a CLI `--field TRAIT=FIELD_NAME` option into (trait, field name)."""
    trait, sep, name = option.partition("=")
    trait, name = trait.strip(), name.strip()
    if not sep or not trait:
        raise ValueError(f"--field {option!r}: expected TRAIT=FIELD_NAME")
    check_field_name(name, f"--field {option!r}")
    return trait, name
