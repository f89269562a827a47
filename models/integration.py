"""An installed SendGrid integration: where to deliver, with which key, and in what state."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created, enum_values, json, pk, utcnow


class IntegrationStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # a configuration error (unknown list, ...) that a person must fix
    AUTH_FAILED = "auth_failed"  # SendGrid answered 401/403; deliveries wait for `integrations update-key`
    DISABLED = "disabled"  # switched off by a person: no deliveries are made for it, queued ones wait
    KEY_UNREADABLE = "key_unreadable"  # the workers' SIGNAL_SECRET_KEY does not decrypt the stored key
    CONFIG_INVALID = "config_invalid"  # the stored mapping config does not load; deliveries fail until fixed


class Integration(Base):
    __tablename__ = "integrations"

    id: Mapped[pk]
    name: Mapped[str] = mapped_column(String(100))
    variant: Mapped[str] = mapped_column(String(50), default="default")
    delivery_mode: Mapped[str] = mapped_column(String(30), default="server_side")
    status: Mapped[IntegrationStatus] = mapped_column(
        Enum(IntegrationStatus, native_enum=False, values_callable=enum_values, length=20),
        default=IntegrationStatus.ACTIVE,
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    # Fernet token of the API key (SIGNAL_SECRET_KEY); the plain key is never stored.
    api_key_encrypted: Mapped[str] = mapped_column(Text)
    api_key_hint: Mapped[str] = mapped_column(String(20))
    api_url: Mapped[str] = mapped_column(String(200))
    default_list_id: Mapped[str | None] = mapped_column(String(64))
    # Mapping configuration (mapping.MappingConfig.to_dict()) plus unsubscribe_group_id.
    config: Mapped[json] = mapped_column(default=dict)
    # Custom field name -> SendGrid's opaque id, resolved at install and on `invalid custom field ids`.
    field_ids: Mapped[json] = mapped_column(default=dict)
    # Set from X-RateLimit-Reset: no request to SendGrid before this time.
    paused_until: Mapped[datetime | None]
    created_at: Mapped[created]
    updated_at: Mapped[created] = mapped_column(onupdate=utcnow)

    @property
    def unsubscribe_group_id(self) -> int | None:
        value: Any = (self.config or {}).get("unsubscribe_group_id")
        return int(value) if value not in (None, "") else None

    @property
    def list_ids(self) -> list[str]:
        return [self.default_list_id] if self.default_list_id else []
