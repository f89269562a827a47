"""Admin routes of integrations: install one (POST .../sendgrid/install), list them, update, update the key,
disable, enable and delete one (/v1/admin/integrations/<id>). The work is `workers.services.integrations`,
shared with the CLI and the console."""

from __future__ import annotations

from flask_smorest import abort

from workers.admin import schemas
from workers.admin.blueprint import blp, documented_errors, state, transaction
from workers.services import integrations as service
from workers.services.install_body import install_request


def refuse_duplicate(error: service.DuplicateIntegration):
    abort(409, message=f'install refused: {error} ("force": true)', errors={"existing_id": error.existing_id})


def not_found(error: service.IntegrationNotFound):
    abort(404, message=str(error))


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
    try:
        with transaction() as session:
            return service.install(session, install_request(body), state().settings).to_dict()
    except service.DuplicateIntegration as e:
        refuse_duplicate(e)
    except service.InstallError as e:
        abort(400, message=f"install failed: {e}")


@blp.route("/admin/integrations", methods=["GET"])
@blp.response(200, schemas.IntegrationSchema(many=True))
@documented_errors()
def list_integrations() -> list[dict]:
    """Installed integrations, keys masked, with their status and what to do when not active

    An integration this server cannot use shows why: `key_unreadable` (SIGNAL_SECRET_KEY does not decrypt its
    key) or `config_invalid` (its stored mapping does not load), with what to do in `status_reason`.
    """
    with transaction() as session:
        return service.list_integrations(session, state().settings)


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
    try:
        with transaction() as session:
            return service.update(
                session,
                integration_id,
                state().settings,
                default_list_id=body.get("default_list_id", service.UNCHANGED),
                trait_fields=body.get("trait_fields"),
                force=body["force"],
            ).to_dict()
    except service.IntegrationNotFound as e:
        not_found(e)
    except service.DuplicateIntegration as e:
        refuse_duplicate(e)
    except service.InstallError as e:
        abort(400, message=f"update failed: {e}")


@blp.route("/admin/integrations/<int:integration_id>/key", methods=["POST"])
@blp.arguments(schemas.KeySchema, example={"api_key": "SG.xxxxxxxxxxxxxxxxxxxx"})
@blp.response(200, schemas.IntegrationSchema)
@documented_errors("NOT_FOUND")
def update_integration_key(body: dict, integration_id: int) -> dict:
    """Replace an integration's API key

    Checks the new key against SendGrid (GET /v3/scopes) as install does, stores it encrypted and sets the
    integration active: deliveries held while the old key was refused go out on the flush that follows. A key
    SendGrid rejects is a 400 whose message gives the troubleshooting advice, and the stored key stays; the key
    is never echoed. What `signal-sendgrid integrations update-key` and the console's key form do.
    """
    try:
        with transaction() as session:
            return service.update_key(session, integration_id, body["api_key"], state().settings)
    except service.IntegrationNotFound as e:
        not_found(e)
    except service.InstallError as e:
        abort(400, message=f"update failed: {e}")


@blp.route("/admin/integrations/<int:integration_id>/disable", methods=["POST"])
@blp.response(200, schemas.IntegrationSchema)
@documented_errors("NOT_FOUND")
def disable_integration(integration_id: int) -> dict:
    """Disable an integration

    Processing makes no deliveries for it and the flush skips it until it is enabled; events processed
    meanwhile are never delivered to it. Queued deliveries wait and go out after enable. Its history stays.
    """
    return lifecycle(integration_id, service.disable)


@blp.route("/admin/integrations/<int:integration_id>/enable", methods=["POST"])
@blp.response(200, schemas.IntegrationSchema)
@documented_errors("NOT_FOUND")
def enable_integration(integration_id: int) -> dict:
    """Enable an integration again

    Sets it active (from disabled, or from a pause a person fixed) and flushes its queued deliveries. A key or
    mapping this server cannot use shows at once as `key_unreadable` / `config_invalid` with the reason.
    """
    return lifecycle(integration_id, service.enable)


@blp.route("/admin/integrations/<int:integration_id>", methods=["DELETE"])
@blp.response(200, schemas.DeletedSchema)
@documented_errors("NOT_FOUND")
def delete_integration(integration_id: int) -> dict:
    """Delete an integration

    Deletes it with its deliveries, their attempts, its import jobs and the contact state and orders kept for
    its account (the counts are in `removed`). Events, identity links and the contacts in SendGrid itself
    stay (`kept`). To stop delivering and keep the history, disable it instead.
    """
    try:
        with transaction() as session:
            return service.delete(session, integration_id).to_dict()
    except service.IntegrationNotFound as e:
        not_found(e)


def lifecycle(integration_id: int, change) -> dict:  # noqa: ANN001 - service.disable or service.enable
    """Disable or enable an integration in this request's transaction; 404 when there is none."""
    try:
        with transaction() as session:
            return change(session, integration_id, state().settings)
    except service.IntegrationNotFound as e:
        not_found(e)
