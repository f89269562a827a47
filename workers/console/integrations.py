"""Integrations in the console: the Installed and Integration Library tabs, an integration's page and its actions
(update the key, change the list, pause/resume, delete). The work is done by workers.integrations (install,
lifecycle), shared with the API and the CLI; this module reads what the pages show and handles the forms.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.secrets import redact
from config.settings import SENDGRID_API_EU, ConfigError
from models import Delivery, DeliveryAttempt, Integration
from workers.admin.blueprint import state, transaction
from workers.console.blueprint import console
from workers.integrations.install import InstallError, update_integration, update_key
from workers.integrations.lifecycle import (
    DELETE_KEEPS,
    DuplicateIntegration,
    IntegrationNotFound,
    delete_integration,
    disable_integration,
    enable_integration,
    get_integration,
)
from workers.integrations.status import client_for, shown_status
from workers.tasks import after_commit, trigger_flush

LATEST_REQUESTS = 20
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


def region_of(integration: Integration) -> str:
    return "EU" if integration.api_url == SENDGRID_API_EU else "Global"


@console.get("/integrations")
def integrations():
    with transaction() as session:
        rows = [
            (integration, shown_status(integration, state().settings)[0].value)
            for integration in session.scalars(select(Integration).order_by(Integration.id))
        ]
        return render_template("console/integrations.html", rows=rows, region_of=region_of)


@console.get("/integrations/library")
def integration_library():
    return render_template("console/library.html", description=SEED_DESCRIPTION, scope=SEED_SCOPE)


def delivery_counts(session: Session, integration_id: int) -> dict[str, int]:
    query = (
        select(Delivery.status, func.count()).where(Delivery.integration_id == integration_id).group_by(Delivery.status)
    )
    return {status.value: count for status, count in session.execute(query)}


def latest_requests(session: Session, integration_id: int) -> list[DeliveryAttempt]:
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.integration_id == integration_id)
        .order_by(DeliveryAttempt.id.desc())
        .limit(LATEST_REQUESTS)
    )
    return list(session.scalars(query))


def account_lists(integration: Integration) -> tuple[list[dict] | None, str | None]:
    """The SendGrid account's lists (asked only when the operator asks: `?lists=1`), or why they cannot be read."""
    try:
        answer = client_for(integration, state().settings).lists()
    except ConfigError as e:
        return None, str(e)
    if not answer.ok:
        return None, f"SendGrid did not give the lists: {answer.message}"
    lists = [{"id": str(i.get("id")), "name": i.get("name") or ""} for i in (answer.body or {}).get("result", [])]
    return lists, None


def page(integration_id: int, errors: dict | None = None, status_code: int = 200):
    with transaction() as session:
        try:
            integration = get_integration(session, integration_id)
        except IntegrationNotFound:
            abort(404)
        status, reason = shown_status(integration, state().settings)
        attempts = latest_requests(session, integration_id)
        headroom = next((a for a in attempts if a.ratelimit_limit), None)
        trait_fields = (integration.config or {}).get("trait_fields") or {}
        field_ids = {str(k): str(v) for k, v in (integration.field_ids or {}).items()}
        lists, lists_error = account_lists(integration) if request.args.get("lists") else (None, None)
        html = render_template(
            "console/integration.html",
            integration=integration,
            status=status.value,
            reason=reason,
            what_to_do=WHAT_TO_DO.get(status.value, ""),
            region=region_of(integration),
            trait_fields=trait_fields,
            field_ids=field_ids,
            counts=delivery_counts(session, integration_id),
            attempts=attempts,
            headroom=headroom,
            errors=errors or {},
            lists=lists,
            lists_error=lists_error,
            notice="Installed." if request.args.get("installed") else None,
        )
    return html, status_code


@console.get("/integrations/<int:integration_id>")
def integration_page(integration_id: int):
    return page(integration_id)


def flush_after(session: Session, integration_id: int) -> None:
    after_commit(session, lambda: trigger_flush([integration_id]))


@console.post("/integrations/<int:integration_id>/key")
def integration_update_key(integration_id: int):
    api_key = request.form.get("api_key", "").strip()
    if not api_key:
        return page(integration_id, {"api_key": "enter the new API key"}, status_code=400)
    try:
        with transaction() as session:
            integration = get_integration(session, integration_id, lock=True)
            update_key(session, integration, api_key, state().settings)
            flush_after(session, integration_id)
    except IntegrationNotFound:
        abort(404)
    except InstallError as e:
        return page(integration_id, {"api_key": redact(str(e), api_key)}, status_code=400)
    flash("The new key works and is stored; held deliveries go out on the next flush.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.post("/integrations/<int:integration_id>/list")
def integration_change_list(integration_id: int):
    list_id = request.form.get("default_list_id", "").strip()
    force = request.form.get("force") == "1"
    try:
        with transaction() as session:
            integration = get_integration(session, integration_id, lock=True)
            update_integration(session, integration, state().settings, default_list_id=list_id or None, force=force)
            flush_after(session, integration_id)
    except IntegrationNotFound:
        abort(404)
    except DuplicateIntegration as e:
        return page(integration_id, {"default_list_id": str(e), "duplicate": list_id}, status_code=409)
    except InstallError as e:
        return page(integration_id, {"default_list_id": str(e)}, status_code=400)
    flash(f"The default list is now {list_id or 'none'}.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.post("/integrations/<int:integration_id>/pause")
def integration_pause(integration_id: int):
    try:
        with transaction() as session:
            disable_integration(session, integration_id)
    except IntegrationNotFound:
        abort(404)
    flash("Paused: no deliveries are made for it until you resume it.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.post("/integrations/<int:integration_id>/resume")
def integration_resume(integration_id: int):
    try:
        with transaction() as session:
            enable_integration(session, integration_id, state().settings)
            flush_after(session, integration_id)
    except IntegrationNotFound:
        abort(404)
    flash("Resumed: queued deliveries go out on the next flush.")
    return redirect(url_for("console.integration_page", integration_id=integration_id))


@console.get("/integrations/<int:integration_id>/delete")
def integration_delete_confirm(integration_id: int):
    with transaction() as session:
        try:
            integration = get_integration(session, integration_id)
        except IntegrationNotFound:
            abort(404)
        counts = delivery_counts(session, integration_id)
        return render_template(
            "console/delete.html", integration=integration, deliveries=sum(counts.values()), kept=DELETE_KEEPS
        )


@console.post("/integrations/<int:integration_id>/delete")
def integration_delete(integration_id: int):
    try:
        with transaction() as session:
            removed = delete_integration(session, integration_id)
    except IntegrationNotFound:
        abort(404)
    flash(removed.summary().capitalize() + ".")
    return redirect(url_for("console.integrations"))
