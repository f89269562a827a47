"""Admin routes of integrations: install one (POST .../sendgrid/install), list them, update, disable, enable and
delete one (/v1/admin/integrations/<id>). The work is in workers.integrations (install, lifecycle), shared with
the CLI and the console."""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import select

from config.secrets import redact
from models import Integration
from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, state, transaction
from workers.integrations.lifecycle import DuplicateIntegration, IntegrationNotFound
from workers.integrations.status import shown_status


def refuse_duplicate(error: DuplicateIntegration):
    abort(409, message=f'install refused: {error} ("force": true)', errors={"existing_id": error.existing_id})


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
@documented_errors("CONFLICT")
def install_sendgrid(body: dict) -> dict:
    """Install a SendGrid integration

    Checks the key (GET /v3/scopes), the list and the custom fields against SendGrid, creates the missing
    fields, and stores the key encrypted: what `signal-sendgrid install` does. A key SendGrid rejects is a
    400 whose message gives the troubleshooting advice; the key is never echoed. A second install of the same
    account and list (same list and region, or the same key without a list) is a 409 naming the existing
    integration (`errors.existing_id`) unless the body says `"force": true`.
    """
    from workers.integrations.install import InstallError, install

    api_key = body["config"]["api_key"]
    install_request = schemas.install_request(body)
    try:
        with transaction() as session:
            result = install(session, install_request, state().settings)
            return {
                **integration_view(result.integration),
                "created_fields": result.created_fields,
                "warnings": [redact(w, api_key) for w in result.warnings],
            }
    except DuplicateIntegration as e:
        refuse_duplicate(e)
    except InstallError as e:
        abort(400, message=f"install failed: {redact(str(e), api_key)}")


def integration_view(integration: Integration) -> dict:
    status, reason = shown_status(integration, state().settings)
    return {
        "id": integration.id,
        "name": integration.name,
        "variant": integration.variant,
        "delivery_mode": integration.delivery_mode,
        "status": status.value,
        "status_reason": reason,
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
    """Installed integrations, keys masked, with their status and what to do when not active

    An integration this server cannot use shows why: `key_unreadable` (SIGNAL_SECRET_KEY does not decrypt its
    key) or `config_invalid` (its stored mapping does not load), with what to do in `status_reason`.
    """
    with transaction() as session:
        return [integration_view(i) for i in session.scalars(select(Integration).order_by(Integration.id))]


def not_found(error: IntegrationNotFound):
    abort(404, message=str(error))


@blp.route("/admin/integrations/<int:integration_id>", methods=["PATCH"])
@blp.arguments(schemas.IntegrationUpdateSchema, example={"default_list_id": "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"})
@blp.response(200, schemas.InstalledSchema)
@documented_errors("NOT_FOUND", "CONFLICT")
def update_integration(body: dict, integration_id: int) -> dict:
    """Change an integration's default list or field mappings

    Checked as install checks them: the list must exist in the account (400 otherwise), the mappings are at
    most 100 and must fit the account's custom field budget, and a list another integration of the account
    delivers to is a 409 unless `"force": true`. A paused integration is active again afterwards.
    """
    from workers.integrations.install import UNCHANGED, InstallError
    from workers.integrations.install import update_integration as do_update
    from workers.integrations.lifecycle import get_integration
    from workers.tasks import after_commit, trigger_flush

    try:
        with transaction() as session:
            integration = get_integration(session, integration_id, lock=True)
            result = do_update(
                session,
                integration,
                state().settings,
                default_list_id=body.get("default_list_id", UNCHANGED),
                trait_fields=body.get("trait_fields"),
                force=body["force"],
            )
            after_commit(session, lambda: trigger_flush([integration_id]))
            return {
                **integration_view(integration),
                "created_fields": result.created_fields,
                "warnings": result.warnings,
            }
    except IntegrationNotFound as e:
        not_found(e)
    except DuplicateIntegration as e:
        refuse_duplicate(e)
    except InstallError as e:
        abort(400, message=f"update failed: {e}")


@blp.route("/admin/integrations/<int:integration_id>/disable", methods=["POST"])
@blp.response(200, schemas.IntegrationSchema)
@documented_errors("NOT_FOUND")
def disable_integration(integration_id: int) -> dict:
    """Disable an integration

    Processing makes no deliveries for it and the flush skips it until it is enabled; events processed
    meanwhile are never delivered to it. Queued deliveries wait and go out after enable. Its history stays.
    """
    from workers.integrations.lifecycle import disable_integration as disable

    try:
        with transaction() as session:
            return integration_view(disable(session, integration_id))
    except IntegrationNotFound as e:
        not_found(e)


@blp.route("/admin/integrations/<int:integration_id>/enable", methods=["POST"])
@blp.response(200, schemas.IntegrationSchema)
@documented_errors("NOT_FOUND")
def enable_integration(integration_id: int) -> dict:
    """Enable an integration again

    Sets it active (from disabled, or from a pause a person fixed) and flushes its queued deliveries. A key or
    mapping this server cannot use shows at once as `key_unreadable` / `config_invalid` with the reason.
    """
    from workers.integrations.lifecycle import enable_integration as enable
    from workers.tasks import after_commit, trigger_flush

    try:
        with transaction() as session:
            integration = enable(session, integration_id, state().settings)
            after_commit(session, lambda: trigger_flush([integration_id]))
            return integration_view(integration)
    except IntegrationNotFound as e:
        not_found(e)


@blp.route("/admin/integrations/<int:integration_id>", methods=["DELETE"])
@blp.response(200, schemas.DeletedSchema)
@documented_errors("NOT_FOUND")
def delete_integration(integration_id: int) -> dict:
    """Delete an integration

    Deletes it with its deliveries, their attempts, its import jobs and the contact state and orders kept for
    its account (the counts are in `removed`). Events, identity links and the contacts in SendGrid itself
    stay (`kept`). To stop delivering and keep the history, disable it instead.
    """
    from workers.integrations.lifecycle import delete_integration as delete

    try:
        with transaction() as session:
            return delete(session, integration_id).to_dict()
    except IntegrationNotFound as e:
        not_found(e)
