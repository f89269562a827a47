"""An integration's life after install: disable, enable, delete, the duplicate check, and status checks.

Plain functions on a Session (they never commit), shared by `signal-sendgrid integrations ...`, the admin API
and the console. The caller commits, and triggers a flush after commit where delivery resumes.

What delete removes and keeps (`DELETE_KEEPS`): the integration row and, with it, everything that exists
only for it (its deliveries, their HTTP attempts, import jobs, the contact state and orders kept for its
SendGrid account). The event inbox and identity links are shared by every integration and stay, and nothing
is removed from SendGrid. To stop delivering but keep the history, disable instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.secrets import decrypt_key, secret_for
from config.settings import ConfigError, Settings
from models import Contact, Delivery, DeliveryAttempt, ImportJob, Integration, IntegrationStatus, Order
from workers.integrations.status import recheck

DELETE_KEEPS = (
    "kept: every event (the inbox is shared by all integrations), identity links, and the contacts in SendGrid "
    "itself (nothing is deleted there)"
)
DISABLE_NOTE = (
    "no deliveries are made for events processed while it is disabled (enable does not go back for them); "
    "queued deliveries wait and go out after enable"
)


class IntegrationNotFound(LookupError):
    def __init__(self, integration_id: int) -> None:
        super().__init__(f"no integration {integration_id}: `signal-sendgrid integrations` lists them")
        self.integration_id = integration_id


class DuplicateIntegration(Exception):
    """A second install of the same account and list; `existing_id` is the integration already installed
    (an id, not the row: the caller's transaction is rolled back when this propagates)."""

    def __init__(self, existing: Integration) -> None:
        where = f"list {existing.default_list_id}" if existing.default_list_id else "the same key and no list"
        super().__init__(
            f"integration {existing.id} ({existing.name}) already delivers to {where} at {existing.api_url}: "
            f"every event would go to SendGrid twice. Update or delete {existing.id}, or install again with "
            "force to have both"
        )
        self.existing_id = existing.id


@dataclass
class Removed:
    """What `delete_integration` removed (row counts), and what it kept."""

    integration_id: int
    deliveries: int = 0
    attempts: int = 0
    import_jobs: int = 0
    contacts: int = 0
    orders: int = 0
    kept: str = DELETE_KEEPS

    def summary(self) -> str:
        return (
            f"integration {self.integration_id} deleted with its {self.deliveries} deliveries, {self.attempts} "
            f"attempts, {self.import_jobs} import jobs, {self.contacts} contact states and {self.orders} orders; "
            f"{self.kept}"
        )

    def to_dict(self) -> dict:
        return {
            "id": self.integration_id,
            "removed": {
                "deliveries": self.deliveries,
                "attempts": self.attempts,
                "import_jobs": self.import_jobs,
                "contacts": self.contacts,
                "orders": self.orders,
            },
            "kept": self.kept,
        }


def get_integration(session: Session, integration_id: int, lock: bool = False) -> Integration:
    query = select(Integration).where(Integration.id == integration_id)
    integration = session.scalar(query.with_for_update() if lock else query)
    if integration is None:
        raise IntegrationNotFound(integration_id)
    return integration


def delete_integration(session: Session, integration_id: int) -> Removed:
    """Delete the integration and everything that belongs only to it (the foreign keys cascade)."""
    integration = get_integration(session, integration_id, lock=True)
    removed = Removed(integration_id)
    for name, model in (
        ("deliveries", Delivery),
        ("attempts", DeliveryAttempt),
        ("import_jobs", ImportJob),
        ("contacts", Contact),
        ("orders", Order),
    ):
        count = session.scalar(select(func.count()).select_from(model).where(model.integration_id == integration_id))
        setattr(removed, name, count or 0)
    session.delete(integration)
    session.flush()
    return removed


def disable_integration(session: Session, integration_id: int) -> Integration:
    """Stop delivering: processing makes no deliveries for it and the flush skips it, until enabled."""
    integration = get_integration(session, integration_id, lock=True)
    integration.status = IntegrationStatus.DISABLED
    integration.status_reason = f"disabled by an operator: {DISABLE_NOTE}"
    return integration


def enable_integration(session: Session, integration_id: int, settings: Settings) -> Integration:
    """Active again (from disabled, or any paused state a person fixed); a key or config that still does not
    work shows at once as key_unreadable / config_invalid. The caller triggers a flush after commit."""
    integration = get_integration(session, integration_id, lock=True)
    integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
    recheck(integration, settings)
    return integration


def find_duplicate(
    session: Session,
    api_url: str,
    default_list_id: str | None,
    api_key: str,
    settings: Settings,
    exclude_id: int | None = None,
) -> Integration | None:
    """An installed integration that delivers to the same account and list in the same region.

    A list id is a UUID of one account, so the same list in the same region is the same account. Without a
    list, only the same key says it is the same account (stored keys are decrypted to compare; one that
    cannot be decrypted is not compared)."""
    query = select(Integration).where(Integration.api_url == api_url).order_by(Integration.id)
    if default_list_id:
        query = query.where(Integration.default_list_id == default_list_id)
    else:
        query = query.where(Integration.default_list_id.is_(None))
    for candidate in session.scalars(query):
        if candidate.id == exclude_id:
            continue
        if default_list_id:
            return candidate
        try:
            if decrypt_key(candidate.api_key_encrypted, secret_for(settings)) == api_key:
                return candidate
        except ConfigError:
            continue
    return None


def recheck_all(session: Session, settings: Settings) -> list[int]:
    """Set or clear key_unreadable / config_invalid on every integration as this process finds them (the
    sweep runs it, so a worker given the right SIGNAL_SECRET_KEY resumes on its own); returns the ids of
    the integrations that became active again."""
    resumed = []
    for integration in session.scalars(select(Integration).order_by(Integration.id)):
        if recheck(integration, settings) and integration.status == IntegrationStatus.ACTIVE:
            resumed.append(integration.id)
    return resumed
