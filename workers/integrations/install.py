"""Installing a SendGrid integration: check the key, the list and the custom fields, store the key encrypted.

Shared by `signal-sendgrid install` and the admin API's install route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from config.secrets import encrypt_key, mask_key, secret_for
from config.settings import SENDGRID_API_EU, Settings
from mapping import MappingConfig
from models import AttemptKind, Integration, IntegrationStatus
from workers.integrations.status import AUTH_ADVICE
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient, SendGridResponse
from workers.sendgrid.fields import resolve_fields

REQUIRED_SCOPES = {"marketing_campaigns.read", "marketing_campaigns.create", "marketing_campaigns.update"}


class InstallError(Exception):
    """SendGrid or the configuration said no; the message says what to do."""


@dataclass
class InstallRequest:
    api_key: str = field(repr=False)  # never in a repr or a traceback
    name: str = "SendGrid"
    default_list_id: str | None = None
    variant: str = "default"
    delivery_mode: str = "server_side"
    region: str = "us"  # "eu" sends to SendGrid's EU region
    trait_fields: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)  # user_id_field, require_consent, ...


@dataclass
class InstallResult:
    integration: Integration
    created_fields: list[str]
    warnings: list[str]


def check_key(client: SendGridClient) -> SendGridResponse:
    answer = client.scopes()
    if answer.status in (401, 403):
        raise InstallError(
            f"SendGrid rejected the API key ({answer.status} {answer.message}): invalid API key or missing "
            f"scopes. {AUTH_ADVICE}."
        )
    if not answer.ok:
        raise InstallError(f"could not check the API key against {client.api_url}: {answer.message}")
    scopes = set((answer.body or {}).get("scopes", []))
    missing = sorted(REQUIRED_SCOPES - scopes)
    if missing:
        raise InstallError(f"the API key lacks the Marketing scopes {', '.join(missing)}. {AUTH_ADVICE}.")
    return answer


def check_list(client: SendGridClient, list_id: str) -> SendGridResponse:
    answer = client.lists()
    if not answer.ok:
        raise InstallError(f"could not read the marketing lists: {answer.message}")
    ids = {str(item.get("id")) for item in (answer.body or {}).get("result", [])}
    if list_id not in ids:
        raise InstallError(
            f"list {list_id} does not exist in this SendGrid account: find the List ID under "
            "Marketing > Contacts > Lists, or leave default_list_id out"
        )
    return answer


def install(session: Session, request: InstallRequest, settings: Settings) -> InstallResult:
    api_url = SENDGRID_API_EU if request.region == "eu" else settings.sendgrid_api_url
    secret = secret_for(settings)
    client = SendGridClient(api_url, request.api_key)
    answers: list[tuple[AttemptKind, SendGridResponse]] = [(AttemptKind.SCOPES, check_key(client))]
    if request.default_list_id:
        answers.append((AttemptKind.LISTS, check_list(client, request.default_list_id)))
    try:
        config = MappingConfig.from_dict({**request.options, "trait_fields": dict(request.trait_fields)})
    except ValueError as e:
        raise InstallError(f"invalid field mapping: {e}") from e
    resolution = resolve_fields(
        client, config.required_fields(), lambda a: answers.append((AttemptKind.FIELD_DEFINITIONS, a))
    )
    if resolution.error:
        raise InstallError(resolution.error)
    stored = {**config.to_dict(), **{k: v for k, v in request.options.items() if k == "unsubscribe_group_id"}}
    integration = Integration(
        name=request.name,
        variant=request.variant,
        delivery_mode=request.delivery_mode,
        status=IntegrationStatus.ACTIVE,
        api_key_encrypted=encrypt_key(request.api_key, secret),
        api_key_hint=mask_key(request.api_key),
        api_url=api_url,
        default_list_id=request.default_list_id,
        config=stored,
        field_ids=resolution.ids,
    )
    session.add(integration)
    session.flush()
    for kind, answer in answers:
        record_attempt(session, integration.id, kind, answer)
    return InstallResult(integration, resolution.created, resolution.type_mismatches)


def update_key(session: Session, integration: Integration, api_key: str, settings: Settings) -> None:
    """Check the new key, store it, and resume delivery: held deliveries go out on the next flush."""
    check_key(SendGridClient(integration.api_url, api_key))
    integration.api_key_encrypted = encrypt_key(api_key, secret_for(settings))
    integration.api_key_hint = mask_key(api_key)
    integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
