"""Admin routes of integrations: install one (POST .../sendgrid/install) and list them (GET /v1/admin/integrations)."""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from config.secrets import redact
from models import Integration
from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, state, transaction


@blp.route("/admin/integration-catalog/sendgrid/install", methods=["POST"])
@blp.arguments(
    schemas.InstallSchema,
    example={
        "name": "SendGrid",
        "variant": "default",
        "config": {"api_key": "SG.xxxxxxxxxxxxxxxxxxxx", "default_list_id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"},
        "delivery_mode": "server_side",
    },
)
@blp.response(201, schemas.InstalledSchema)
@documented_errors()
def install_sendgrid(body: dict) -> dict:
    """Install a SendGrid integration

    Checks the key (GET /v3/scopes), the list and the custom fields against SendGrid, creates the missing
    fields, and stores the key encrypted: what `signal-sendgrid install` does. A key SendGrid rejects is a
    400 whose message gives the troubleshooting advice; the key is never echoed.
    """
    from workers.integrations.install import InstallError, InstallRequest, install

    config = body["config"]
    api_key = config["api_key"]
    options = {k: config[k] for k in ("user_id_field", "unsubscribe_group_id") if k in config}
    options["require_consent"] = config["require_consent"]
    install_request = InstallRequest(
        api_key=api_key,
        name=body["name"],
        variant=body["variant"],
        delivery_mode=body["delivery_mode"],
        default_list_id=config["default_list_id"],
        region=config["region"],
        trait_fields=config["trait_fields"],
        options=options,
    )
    try:
        with transaction() as session:
            result = install(session, install_request, state().settings)
            return {
                **integration_view(result.integration),
                "created_fields": result.created_fields,
                "warnings": [redact(w, api_key) for w in result.warnings],
            }
    except InstallError as e:
        abort(400, message=f"install failed: {redact(str(e), api_key)}")


def integration_view(integration: Integration) -> dict:
    return {
        "id": integration.id,
        "name": integration.name,
        "variant": integration.variant,
        "delivery_mode": integration.delivery_mode,
        "status": integration.status.value,
        "status_reason": integration.status_reason,
        "api_key": integration.api_key_hint,
        "api_url": integration.api_url,
        "default_list_id": integration.default_list_id,
        "field_ids": {name: str(value) for name, value in (integration.field_ids or {}).items()},
        "created_at": integration.created_at,
    }


@blp.route("/admin/integrations", methods=["GET"])
@blp.response(200, schemas.IntegrationSchema(many=True))
@documented_errors()
def list_integrations() -> list[dict]:
    """Installed integrations, keys masked, with their status and what to do when not active"""
    with transaction() as session:
        return [integration_view(i) for i in session.scalars(select(Integration).order_by(Integration.id))]
