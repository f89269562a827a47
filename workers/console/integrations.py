"""Integrations in the console: the Installed and Integration Library tabs, an integration's page and its actions
(update the key, change the list, pause/resume, delete). The work is `workers.services.integrations`, shared
with the API and the CLI; this module renders what it answers and handles the forms.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for

from workers.console.blueprint import console
from workers.services import integrations as service
from workers.web_state import state, transaction

SEED_DESCRIPTION = (
    "SendGrid (Twilio) is a transactional and marketing email platform with high-deliverability infrastructure "
    "and a marketing automation suite (SendGrid Marketing Campaigns)."
)
SEED_SCOPE = (
    "This integration is currently in alpha. Configuration and behaviour may change. This integration covers "
    "contact list / Marketing Campaigns sync. For one-off transactional emails, use SendGrid's Mail Send API directly."
)
# What an operator does about each status (shown with the stored reason).
WHAT_TO_DO = {
    "active": "Nothing: deliveries go out on every flush.",
    "paused": "A configuration problem (the reason says which): fix it, e.g. change the list below; delivery "
    "resumes when it is fixed.",
    "auth_failed": "SendGrid rejected the key: verify it in Settings > API Keys, ensure Marketing read/write "
    "permissions, then update the key below. Deliveries are held, not lost.",
    "disabled": "Paused by an operator: resume it below. Queued deliveries go out then; events processed "
    "meanwhile are not delivered to it.",
    "key_unreadable": "This server's SIGNAL_SECRET_KEY does not decrypt the stored key: give the server the key "
    "it was stored with, or update the key below.",
    "config_invalid": "The stored mapping does not load: change the field mappings (API or CLI), then replay.",
}


@console.app_template_filter("epoch_utc")
def epoch_utc(seconds: int | None) -> str:
    """X-RateLimit-Reset (Unix seconds) as a UTC time of day."""
    try:
        return datetime.fromtimestamp(int(seconds or 0), UTC).strftime("%H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "?"


@console.get("/integrations")
def integrations():
    with transaction() as session:
        rows = service.list_integrations(session, state().settings)
    return render_template("console/integrations.html", rows=rows, region_of=service.region_of)


@console.get("/integrations/library")
def integration_library():
    return render_template("console/library.html", description=SEED_DESCRIPTION, scope=SEED_SCOPE)


def page(integration_id: int, errors: dict | None = None, status_code: int = 200):
    settings = state().settings
    with transaction() as session:
        try:
            shown = service.details(session, integration_id, settings)
        except service.IntegrationNotFound:
            abort(404)
        integration = shown.integration
        lists, lists_error = service.account_lists(integration, settings) if request.args.get("lists") else (None, None)
        html = render_template(
            "console/integration.html",
            integration=integration,
            status=shown.shown["status"],
            reason=shown.shown["status_reason"],
            what_to_do=WHAT_TO_DO.get(shown.shown["status"], ""),
            region=service.region_of(integration.api_url),
            trait_fields=(integration.config or {}).get("trait_fields") or {},
            field_ids=shown.shown["field_ids"],
            counts=shown.counts,
            attempts=shown.attempts,
            headroom=next((a for a in shown.attempts if a.ratelimit_limit), None),
            errors=errors or {},
            lists=lists,
            lists_error=lists_error,
            notice="Installed." if request.args.get("installed") else None,
        )
    return html, status_code


@console.get("/integrations/<int:integration_id>")
def integration_page(integration_id: int):
    return page(integration_id)


@console.post("/integrations/<int:integration_id>/key")
def integration_update_key(integration_id: int):
    api_key = request.form.get("api_key", "").strip()
    if not api_key:
        return page(integration_id, {"api_key": "enter the new API key"}, status_code=400)
    try:
        with transaction() as session:
            service.update_key(session, integration_id, api_key, state().settings)
    except service.IntegrationNotFound:
        abort(404)
    except service.InstallError as e:
        return page(integration_id, {"api_key": str(e)}, status_code=400)
    flash("The new key works and is stored; held deliveries go out on the next flush.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.post("/integrations/<int:integration_id>/list")
def integration_change_list(integration_id: int):
    list_id = request.form.get("default_list_id", "").strip()
    force = request.form.get("force") == "1"
    try:
        with transaction() as session:
            service.update(session, integration_id, state().settings, default_list_id=list_id or None, force=force)
    except service.IntegrationNotFound:
        abort(404)
    except service.DuplicateIntegration as e:
        return page(integration_id, {"default_list_id": str(e), "duplicate": list_id}, status_code=409)
    except service.InstallError as e:
        return page(integration_id, {"default_list_id": str(e)}, status_code=400)
    flash(f"The default list is now {list_id or 'none'}.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.post("/integrations/<int:integration_id>/pause")
def integration_pause(integration_id: int):
    return lifecycle(integration_id, service.disable, "Paused: no deliveries are made for it until you resume it.")


@console.post("/integrations/<int:integration_id>/resume")
def integration_resume(integration_id: int):
    return lifecycle(integration_id, service.enable, "Resumed: queued deliveries go out on the next flush.")


def lifecycle(integration_id: int, change, done: str):  # noqa: ANN001 - service.disable or service.enable
    """Pause or resume (the service's disable or enable), then back to the integration's page saying so."""
    try:
        with transaction() as session:
            change(session, integration_id, state().settings)
    except service.IntegrationNotFound:
        abort(404)
    flash(done)
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.get("/integrations/<int:integration_id>/delete")
def integration_delete_confirm(integration_id: int):
    with transaction() as session:
        try:
            shown = service.details(session, integration_id, state().settings)
        except service.IntegrationNotFound:
            abort(404)
        return render_template(
            "console/delete.html",
            integration=shown.integration,
            deliveries=sum(shown.counts.values()),
            kept=service.DELETE_KEEPS,
        )


@console.post("/integrations/<int:integration_id>/delete")
def integration_delete(integration_id: int):
    try:
        with transaction() as session:
            removed = service.delete(session, integration_id)
    except service.IntegrationNotFound:
        abort(404)
    flash(removed.summary().capitalize() + ".")
    return redirect(url_for("console.integrations"))
