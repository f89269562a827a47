"""Integrations as the workers use them: the client with the decrypted key, status changes."""

from __future__ import annotations

from config.secrets import decrypt_key, secret_for
from config.settings import Settings, load_settings
from models import Integration, IntegrationStatus
from workers.sendgrid.client import SendGridClient

AUTH_ADVICE = (
    "Verify the key in SendGrid under Settings > API Keys and ensure Marketing read/write permissions are granted "
    "(scopes marketing_campaigns.read/create/update)"
)


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
