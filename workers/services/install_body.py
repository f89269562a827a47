"""The install body, as the API's POST .../sendgrid/install and the console's install form both load it
(`InstallSchema`), and the install it asks for (`install_request`): one set of checks for both.

Every string that reaches PostgreSQL or an HTTP header is bounded and free of control characters and lone
surrogates: PostgreSQL rejects NUL, and a key that cannot be encoded as a header must be a 400, not a 500.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from mapping import MappingConfig
from workers.integrations.install import InstallRequest


def printable(value: str) -> None:
    """No control characters (NUL among them) and no lone surrogates: text that stores and prints safely."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValidationError("must not contain control characters")


def text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(min=1, max=max_length), printable], **kwargs)


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


def api_key_field() -> fields.String:
    """A SendGrid API key: printable ASCII, never dumped."""
    return fields.String(
        required=True,
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(r"[\x21-\x7e]+\Z", error="must be printable ASCII without spaces (SG.xxx)"),
        ],
        load_only=True,
        metadata={
            "description": "SendGrid API key with Marketing read/write scopes. Stored encrypted.",
            # The document's pattern must be an ECMA-262 regex (no \Z): the same full match, written for clients.
            "pattern": r"^[\x21-\x7e]+$",
        },
    )


class InstallConfigSchema(StrictSchema):
    api_key = api_key_field()
    default_list_id = text(64, load_default=None, metadata={"description": "List to add identified contacts to."})
    trait_fields = fields.Dict(
        data_key="fields",
        keys=text(100),
        values=fields.String(),
        load_default=dict,
        validate=validate.Length(max=100, error="at most {max} custom field mappings per integration"),
        metadata={"description": "Trait name -> SendGrid custom field name (created when missing); at most 100."},
    )
    user_id_field = fields.String(metadata={"description": "Custom field of the user id (signal_user_id)."})
    unsubscribe_group_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    require_consent = fields.Boolean(load_default=False)
    region = fields.String(load_default="us", validate=validate.OneOf(["us", "eu"]))

    @validates_schema
    def mapping_is_valid(self, data: dict, **_kwargs) -> None:
        """Check custom field names now, before any request to SendGrid."""
        options = {
            "trait_fields": data.get("trait_fields") or {},
            "require_consent": data.get("require_consent", False),
        }
        if "user_id_field" in data:
            options["user_id_field"] = data["user_id_field"]
        try:
            MappingConfig.from_dict(options)
        except ValueError as e:
            where = "user_id_field" if str(e).startswith("user_id_field") else "fields"
            raise ValidationError(str(e), field_name=where) from e


class InstallSchema(StrictSchema):
    """The body of the product page's "API Setup" curl."""

    name = text(100, load_default="SendGrid")
    variant = text(50, load_default="default")
    config = fields.Nested(InstallConfigSchema, required=True)
    delivery_mode = fields.String(
        load_default="server_side",
        validate=validate.OneOf(["server_side"], error="only server_side is supported"),
    )
    force = fields.Boolean(
        load_default=False,
        metadata={"description": "Install even when an integration of the same account and list exists (409)."},
    )


def install_request(body: dict) -> InstallRequest:
    """The install a loaded InstallSchema body asks for."""
    config = body["config"]
    options = {k: config[k] for k in ("user_id_field", "unsubscribe_group_id") if k in config}
    options["require_consent"] = config["require_consent"]
    return InstallRequest(
        api_key=config["api_key"],
        name=body["name"],
        variant=body["variant"],
        delivery_mode=body["delivery_mode"],
        default_list_id=config["default_list_id"],
        region=config["region"],
        trait_fields=config["trait_fields"],
        options=options,
        force=body["force"],
    )
