"""The integration lifecycle the API, the console and the CLI offer: install, list and show, update (list,
mappings, resume), update the key, disable, enable, delete; and the one way an integration is shown to a person
(`describe`: the API's body, the CLI's `--json`, the console's Installed tab).

The checks against SendGrid and the row changes are the stage's (`workers.integrations`); a service takes the
interface's Session, locks the row it changes, and sends the flush that follows after commit (`triggers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.secrets import redact
from config.settings import SENDGRID_API_EU, ConfigError, Settings
from models import Delivery, DeliveryAttempt, Integration
from workers.integrations import install as stage
from workers.integrations.install import UNCHANGED, InstallError, InstallRequest
from workers.integrations.lifecycle import (
    DELETE_KEEPS,
    DISABLE_NOTE,
    DuplicateIntegration,
    IntegrationNotFound,
    Removed,
    delete_integration,
    disable_integration,
    enable_integration,
    get_integration,
)
from workers.integrations.status import client_for, shown_status
from workers.sendgrid.client import SendGridClient
from workers.services import triggers

__all__ = [
    "DELETE_KEEPS",
    "DISABLE_NOTE",
    "UNCHANGED",
    "Details",
    "DuplicateIntegration",
    "InstallError",
    "InstallRequest",
    "Installed",
    "IntegrationNotFound",
    "ListsUnreadable",
    "Removed",
    "account_lists",
    "check_key",
    "delete",
    "describe",
    "details",
    "disable",
    "enable",
    "install",
    "list_integrations",
    "region_of",
    "update",
    "update_key",
]
LATEST_REQUESTS = 20  # HTTP attempts shown on an integration's page


class ListsUnreadable(InstallError):
    """The key works, but SendGrid did not give the account's lists."""


def region_of(api_url: str) -> str:
    return "EU" if api_url == SENDGRID_API_EU else "Global"


def describe(integration: Integration, settings: Settings) -> dict:
    """An integration as every interface shows it: the key masked, the status this process finds (with what to
    do when it is not active), `field_ids` as custom field name -> id."""
    status, reason = shown_status(integration, settings)
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
        "field_ids": {str(name): str(value) for name, value in (integration.field_ids or {}).items()},
        "created_at": integration.created_at,
    }


@dataclass
class Installed:
    """What install and update answer: the integration shown, the custom fields created, the warnings."""

    integration: dict
    created_fields: list[str]
    warnings: list[str]

    def to_dict(self) -> dict:
        return {**self.integration, "created_fields": self.created_fields, "warnings": self.warnings}


@dataclass
class Details:
    """An integration's page: the row, how it is shown, its deliveries by status and its latest HTTP attempts."""

    integration: Integration
    shown: dict
    counts: dict[str, int]
    attempts: list[DeliveryAttempt]


def list_integrations(session: Session, settings: Settings) -> list[dict]:
    return [describe(i, settings) for i in session.scalars(select(Integration).order_by(Integration.id))]


def delivery_counts(session: Session, integration_id: int) -> dict[str, int]:
    query = (
        select(Delivery.status, func.count()).where(Delivery.integration_id == integration_id).group_by(Delivery.status)
    )
    return {status.value: count for status, count in session.execute(query)}


def details(session: Session, integration_id: int, settings: Settings) -> Details:
    """Raises IntegrationNotFound."""
    integration = get_integration(session, integration_id)
    attempts = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.integration_id == integration_id)
        .order_by(DeliveryAttempt.id.desc())
        .limit(LATEST_REQUESTS)
    )
    return Details(
        integration, describe(integration, settings), delivery_counts(session, integration_id), list(attempts)
    )


def account_lists(integration: Integration, settings: Settings) -> tuple[list[dict] | None, str | None]:
    """The SendGrid account's lists (id, name), or why they cannot be read."""
    try:
        answer = client_for(integration, settings).lists()
    except ConfigError as e:
        return None, str(e)
    if not answer.ok:
        return None, f"SendGrid did not give the lists: {answer.message}"
    return [{"id": str(i.get("id")), "name": i.get("name") or ""} for i in (answer.body or {}).get("result", [])], None


def check_key(api_key: str, region: str, settings: Settings) -> list[dict]:
    """Check a key's scopes before an install and give the account's lists (id, name, contact count). Raises
    InstallError (the key redacted from it) when SendGrid refuses the key, ListsUnreadable when it does not give
    the lists."""
    client = SendGridClient(SENDGRID_API_EU if region == "eu" else settings.sendgrid_api_url, api_key)
    try:
        stage.check_key(client)
    except InstallError as e:
        raise InstallError(redact(str(e), api_key)) from None
    answer = client.lists()
    if not answer.ok:
        raise ListsUnreadable(redact(f"the key works, but the lists could not be read: {answer.message}", api_key))
    return [
        {"id": str(item.get("id")), "name": item.get("name") or "", "count": item.get("contact_count")}
        for item in (answer.body or {}).get("result", [])
    ]


def install(session: Session, request: InstallRequest, settings: Settings) -> Installed:
    """Install after checking key, list and fields against SendGrid. Raises DuplicateIntegration (unless
    `request.force`) or InstallError, its message free of the key."""
    try:
        result = stage.install(session, request, settings)
    except InstallError as e:
        raise InstallError(redact(str(e), request.api_key)) from None
    warnings = [redact(w, request.api_key) for w in result.warnings]
    return Installed(describe(result.integration, settings), result.created_fields, warnings)


def update(
    session: Session,
    integration_id: int,
    settings: Settings,
    default_list_id: str | None | object = UNCHANGED,
    trait_fields: Mapping[str, str] | None = None,
    force: bool = False,
    resume: bool = False,
) -> Installed:
    """Change the default list and/or the trait mappings (checked as install checks them; a paused integration
    is active again afterwards); `resume` then sets it active as `enable` does, a key or mapping this process
    cannot use showing at once. Flushes it after commit. Raises IntegrationNotFound, DuplicateIntegration,
    InstallError."""
    integration = get_integration(session, integration_id, lock=True)
    created: list[str] = []
    warnings: list[str] = []
    if default_list_id is not UNCHANGED or trait_fields is not None:
        result = stage.update_integration(
            session, integration, settings, default_list_id=default_list_id, trait_fields=trait_fields, force=force
        )
        created, warnings = result.created_fields, result.warnings
    if resume:
        enable_integration(session, integration_id, settings)
    triggers.flush(session, [integration_id])
    return Installed(describe(integration, settings), created, warnings)


def update_key(session: Session, integration_id: int, api_key: str, settings: Settings) -> dict:
    """Check the new key against SendGrid, store it encrypted and resume delivery (held deliveries are flushed
    after commit). The row is locked first, so two updates of one integration run one after the other.
    Raises IntegrationNotFound, or InstallError (the key redacted from it) when SendGrid refuses the key."""
    integration = get_integration(session, integration_id, lock=True)
    try:
        stage.update_key(session, integration, api_key, settings)
    except InstallError as e:
        raise InstallError(redact(str(e), api_key)) from None
    triggers.flush(session, [integration_id])
    return describe(integration, settings)


def disable(session: Session, integration_id: int, settings: Settings) -> dict:
    """No deliveries for it until enabled (DISABLE_NOTE); nothing to send. Raises IntegrationNotFound."""
    return describe(disable_integration(session, integration_id), settings)


def enable(session: Session, integration_id: int, settings: Settings) -> dict:
    """Active again (or key_unreadable / config_invalid at once); its queued deliveries are flushed after commit.
    Raises IntegrationNotFound."""
    integration = enable_integration(session, integration_id, settings)
    triggers.flush(session, [integration_id])
    return describe(integration, settings)


def delete(session: Session, integration_id: int) -> Removed:
    """Delete it with what belongs only to it (DELETE_KEEPS says what stays). Raises IntegrationNotFound."""
    return delete_integration(session, integration_id)
