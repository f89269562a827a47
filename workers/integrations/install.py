"""Installing and updating a SendGrid integration: check the key, the list and the custom fields, refuse a
duplicate, store the key encrypted.

Shared by `signal-sendgrid install` / `integrations update`, the admin API and the console: every way in goes
through `install` and `update_integration`, so each checks the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from config.secrets import decrypt_key, encrypt_key, mask_key, secret_for
from config.settings import SENDGRID_API_EU, ConfigError, Settings
from mapping import MappingConfig
from models import AttemptKind, Integration, IntegrationStatus
from workers.failures import sendgrid_error
from workers.integrations.lifecycle import DuplicateIntegration, find_duplicate
from workers.integrations.status import AUTH_ADVICE
from workers.sendgrid.attempts import record_attempt
from workers.sendgrid.client import SendGridClient, SendGridResponse
from workers.sendgrid.fields import resolve_fields

REQUIRED_SCOPES = {"marketing_campaigns.read", "marketing_campaigns.create", "marketing_campaigns.update"}
MAX_FIELD_MAPPINGS = 100  # trait -> custom field mappings per integration (the account holds 500 fields in all)
Answers = list[tuple[AttemptKind, SendGridResponse]]


class InstallError(Exception):
    """SendGrid or the configuration said no; the message says what to do."""


@dataclass
class InstallRequest:
    api_key: str = field(repr=False)
    name: str = "SendGrid"
    default_list_id: str | None = None
    variant: str = "default"
    delivery_mode: str = "server_side"
    region: str = "us"  # "eu" sends to SendGrid's EU region
    trait_fields: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, object] = field(default_factory=dict)  # user_id_field, require_consent, ...
    force: bool = False  # install even when an integration of the same account and list exists


@dataclass
class InstallResult:
    integration: Integration
    created_fields: list[str]
    warnings: list[str]


def check_key(client: SendGridClient) -> SendGridResponse:
    answer = client.scopes()
    if answer.status is None:  # no answer at all: say where we looked, in one line
        raise InstallError(sendgrid_error(client.api_url, answer.transport_error or "no answer"))
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
        raise InstallError(f"could not read the marketing lists at {client.api_url}: {answer.message}")
    ids = {str(item.get("id")) for item in (answer.body or {}).get("result", [])}
    if list_id not in ids:
        raise InstallError(
            f"list {list_id} does not exist in this SendGrid account: find the List ID under "
            "Marketing > Contacts > Lists, or leave default_list_id out"
        )
    return answer


def check_mappings(trait_fields: Mapping[str, str]) -> None:
    if len(trait_fields) > MAX_FIELD_MAPPINGS:
        raise InstallError(
            f"{len(trait_fields)} custom field mappings: at most {MAX_FIELD_MAPPINGS} per integration "
            "(a SendGrid account holds 500 custom fields in all)"
        )


def mapping_config(trait_fields: Mapping[str, str], options: Mapping[str, object]) -> MappingConfig:
    check_mappings(trait_fields)
    try:
        return MappingConfig.from_dict({**options, "trait_fields": dict(trait_fields)})
    except ValueError as e:
        raise InstallError(f"invalid field mapping: {e}") from e


def refuse_duplicate(
    session: Session, api_url: str, list_id: str | None, api_key: str, settings: Settings, exclude_id=None
) -> None:
    existing = find_duplicate(session, api_url, list_id, api_key, settings, exclude_id=exclude_id)
    if existing is not None:
        raise DuplicateIntegration(existing)


def fields_for(client: SendGridClient, config: MappingConfig, answers: Answers):
    """The custom field ids the mapping needs, created where missing (the account's budget checked first)."""
    resolution = resolve_fields(
        client, config.required_fields(), lambda a: answers.append((AttemptKind.FIELD_DEFINITIONS, a))
    )
    if resolution.error:
        raise InstallError(resolution.error)
    return resolution


def install(session: Session, request: InstallRequest, settings: Settings) -> InstallResult:
    """Raises InstallError (what to fix), or DuplicateIntegration unless `request.force`."""
    api_url = SENDGRID_API_EU if request.region == "eu" else settings.sendgrid_api_url
    secret = secret_for(settings)
    config = mapping_config(request.trait_fields, request.options)
    if not request.force:
        refuse_duplicate(session, api_url, request.default_list_id, request.api_key, settings)
    client = SendGridClient(api_url, request.api_key)
    answers: Answers = [(AttemptKind.SCOPES, check_key(client))]
    if request.default_list_id:
        answers.append((AttemptKind.LISTS, check_list(client, request.default_list_id)))
    resolution = fields_for(client, config, answers)
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


UNCHANGED = object()


def update_integration(
    session: Session,
    integration: Integration,
    settings: Settings,
    default_list_id: str | None | object = UNCHANGED,
    trait_fields: Mapping[str, str] | None = None,
    force: bool = False,
) -> InstallResult:
    """Change the default list (checked against SendGrid, "" or None drops it) and/or the trait mappings
    (replaced; the custom fields checked and created as at install). A paused or config_invalid integration
    is active again afterwards; a disabled one stays disabled. Raises InstallError / DuplicateIntegration."""
    try:
        api_key = decrypt_key(integration.api_key_encrypted, secret_for(settings))
    except ConfigError as e:
        raise InstallError(
            f"{e}: store the key again with `signal-sendgrid integrations update-key {integration.id}`"
        ) from e
    client = SendGridClient(integration.api_url, api_key)
    answers: Answers = []
    created: list[str] = []
    warnings: list[str] = []
    if default_list_id is not UNCHANGED:
        list_id = str(default_list_id) if default_list_id else None
        if list_id:
            answers.append((AttemptKind.LISTS, check_list(client, list_id)))
        if not force:
            refuse_duplicate(session, integration.api_url, list_id, api_key, settings, integration.id)
        integration.default_list_id = list_id
    if trait_fields is not None:
        options = {k: v for k, v in (integration.config or {}).items() if k != "trait_fields"}
        kept_names = set(trait_fields.values())
        types = options.get("field_types")
        options["field_types"] = {k: v for k, v in types.items() if k in kept_names} if isinstance(types, dict) else {}
        config = mapping_config(trait_fields, options)
        resolution = fields_for(client, config, answers)
        keep = {k: v for k, v in (integration.config or {}).items() if k == "unsubscribe_group_id"}
        integration.config = {**config.to_dict(), **keep}
        integration.field_ids = {**(integration.field_ids or {}), **resolution.ids}
        created, warnings = resolution.created, resolution.type_mismatches
    if integration.status in (IntegrationStatus.PAUSED, IntegrationStatus.CONFIG_INVALID):
        integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
    for kind, answer in answers:
        record_attempt(session, integration.id, kind, answer)
    return InstallResult(integration, created, warnings)
