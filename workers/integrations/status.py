"""Integrations as the workers use them: the client with the decrypted key, status changes and their reasons."""

from __future__ import annotations

from config.secrets import decrypt_key, secret_for
from config.settings import ConfigError, Settings, load_settings
from mapping import MappingConfig
from models import Integration, IntegrationStatus
from workers.sendgrid.client import SendGridClient

AUTH_ADVICE = (
    "Verify the key in SendGrid under Settings > API Keys and ensure Marketing read/write permissions are granted "
    "(scopes marketing_campaigns.read/create/update)"
)
# Statuses a worker sets when it meets the problem, and clears when the problem is gone (`recheck`).
SELF_HEALING = (IntegrationStatus.KEY_UNREADABLE, IntegrationStatus.CONFIG_INVALID)


def client_for(integration: Integration, settings: Settings | None = None) -> SendGridClient:
    settings = settings or load_settings()
    return SendGridClient(integration.api_url, decrypt_key(integration.api_key_encrypted, secret_for(settings)))


def mark_auth_failed(integration: Integration, status_code: int | None) -> None:
    integration.status = IntegrationStatus.AUTH_FAILED
    integration.status_reason = (
        f"SendGrid rejected the API key ({status_code}): invalid key or missing scopes. {AUTH_ADVICE}; "
        f"then run `signal-sendgrid integrations update-key {integration.id}`. Deliveries are held, not lost."
    )


def mark_paused(integration: Integration, reason: str) -> None:
    integration.status = IntegrationStatus.PAUSED
    integration.status_reason = reason


def unreadable_reason(integration: Integration, error: Exception) -> str:
    return (
        f"{error}. Give the workers the SIGNAL_SECRET_KEY this key was stored with (delivery resumes within a "
        f"sweep), or store the key again: `signal-sendgrid integrations update-key {integration.id}`. "
        "Deliveries are held, not lost."
    )


def config_reason(integration: Integration, error: Exception) -> str:
    return (
        f"the stored mapping config does not load: {error}. Its events fail with this reason; fix the mapping "
        f"(`signal-sendgrid integrations update {integration.id} --field TRAIT=FIELD`), then replay them"
    )


def mark_key_unreadable(integration: Integration, error: Exception) -> None:
    integration.status = IntegrationStatus.KEY_UNREADABLE
    integration.status_reason = unreadable_reason(integration, error)


def mark_config_invalid(integration: Integration) -> bool:
    """Set config_invalid when the stored mapping config does not load; True when it does not."""
    try:
        MappingConfig.from_dict(integration.config or {})
    except ValueError as e:
        integration.status = IntegrationStatus.CONFIG_INVALID
        integration.status_reason = config_reason(integration, e)
        return True
    return False


def problem(integration: Integration, settings: Settings) -> tuple[IntegrationStatus, str] | None:
    """What keeps this process from delivering to the integration (its config, its key), or None."""
    try:
        MappingConfig.from_dict(integration.config or {})
    except ValueError as e:
        return IntegrationStatus.CONFIG_INVALID, config_reason(integration, e)
    try:
        decrypt_key(integration.api_key_encrypted, secret_for(settings))
    except ConfigError as e:
        return IntegrationStatus.KEY_UNREADABLE, unreadable_reason(integration, e)
    return None


def shown_status(integration: Integration, settings: Settings) -> tuple[IntegrationStatus, str | None]:
    """The status to show a person: the stored one, or what this process finds wrong with an active one."""
    if integration.status == IntegrationStatus.ACTIVE:
        found = problem(integration, settings)
        if found:
            return found
    return integration.status, integration.status_reason


def recheck(integration: Integration, settings: Settings) -> bool:
    """Set or clear key_unreadable / config_invalid as this worker finds them; True when the status changed."""
    if integration.status not in (IntegrationStatus.ACTIVE, *SELF_HEALING):
        return False
    found = problem(integration, settings)
    status, reason = found if found else (IntegrationStatus.ACTIVE, None)
    if (status, reason) == (integration.status, integration.status_reason):
        return False
    integration.status, integration.status_reason = status, reason
    return True
