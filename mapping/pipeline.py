"""`map_event`: one incoming payload -> one `MappedEvent` (mapped, skipped or rejected). Never raises.

The checks run in a fixed order, and the first that decides the event wins:
1. the payload is an object with a valid `messageId` and `type` (else rejected: nothing can be recorded);
2. `integrations` switches SendGrid off -> skipped `disabled_by_integrations`;
3. marketing consent denied -> skipped `consent_denied` (identity kept for suppression, no data), even when
   the rest of the event (timestamp, integrations, traits...) is malformed: what could not be read is noted;
   otherwise a malformed `integrations` or `context.consent` rejects here;
4. screen/group/alias and other track events -> skipped `unsupported_event_type:*` / `unsupported_track_event:*`;
5. consent missing while the config requires it -> skipped `consent_missing`;
6. any remaining problem in the fields this kind reads -> rejected, every problem named;
7. no userId, anonymousId or email -> rejected; otherwise mapped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from mapping.coerce import clean_text
from mapping.config import MappingConfig
from mapping.consent import consent_skip, integrations_switch
from mapping.ordering import DEFAULT_MAX_CLOCK_SKEW, event_time
from mapping.result import MappedEvent, SkipReason, Status
from mapping.rules import (
    KindMapping,
    map_identify,
    map_order_completed,
    map_page,
    map_product_viewed,
    track_kind,
    traits_email,
)
from mapping.schemas import EVENT_SCHEMA, normalize_email

logger = logging.getLogger(__name__)

NO_IDENTITY = "userId/anonymousId/email: the event carries no identity"
_REASON_MAX_LENGTH = 1000
_EVENT_NAME_MAX_LENGTH = 100


def map_event(
    payload: object, config: MappingConfig, received_at: datetime, max_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW
) -> MappedEvent:
    """Map one Datafly event for SendGrid. `received_at` stands in for a missing `timestamp`, and for one more
    than `max_skew` after it (the event's `clock_clamped_from` then keeps the claimed timestamp)."""
    received_at = received_at.replace(tzinfo=UTC) if received_at.tzinfo is None else received_at.astimezone(UTC)
    try:
        return _map(payload, config, received_at, max_skew)
    except Exception:  # a bug here must cost one event, never the worker
        logger.exception("mapping failed")
        message_id = payload.get("messageId") if isinstance(payload, dict) else None
        return _rejected(
            "internal_error: the mapping failed on this event; see the worker log",
            message_id if isinstance(message_id, str) else None,
        )


def _map(payload: object, config: MappingConfig, received_at: datetime, max_skew: timedelta) -> MappedEvent:
    data, problems = EVENT_SCHEMA.load_or_errors(payload)
    message_id = data.get("message_id")
    if not isinstance(payload, Mapping):
        return _rejected(problems[0], None)
    envelope = [p for p in problems if p.startswith(("messageId:", "type:"))]
    if envelope:
        return _rejected(envelope, message_id, data.get("type"))

    event_type = data["type"]
    kind = event_type
    if event_type == "track":
        kind = track_kind(payload.get("event")) or "track"
    context = data.get("context") or {}
    consent = (context.get("consent") or {}).get("marketing")
    timestamp, clamped_from = event_time(data.get("timestamp"), received_at, max_skew)

    def skipped(reason: str, notes: tuple[str, ...] = ()) -> MappedEvent:
        email_source = payload.get("traits") if event_type == "identify" else _get(payload, "context", "traits")
        return MappedEvent(
            status=Status.SKIPPED,
            reason=reason,
            message_id=message_id,
            kind=kind,
            timestamp=timestamp,
            email=normalize_email(_get(email_source, "email")),
            user_id=data.get("user_id"),
            anonymous_id=data.get("anonymous_id"),
            consent=consent,
            notes=notes,
            clock_clamped_from=clamped_from,
        )

    switch_problems = [p for p in problems if p.startswith("integrations")]
    enabled, value_problems = integrations_switch(data.get("integrations"))
    switch_problems += value_problems
    if not enabled and not switch_problems:
        return skipped(SkipReason.DISABLED_BY_INTEGRATIONS)
    if consent is False:
        # Honoured even when the rest is malformed; say what could not be read.
        return skipped(SkipReason.CONSENT_DENIED, tuple(problems + value_problems))
    consent_problems = [p for p in problems if p.startswith(("context:", "context.consent"))]
    if switch_problems or consent_problems:
        return _rejected(switch_problems + consent_problems, message_id, kind)

    if event_type not in ("identify", "page", "track"):
        return skipped(f"unsupported_event_type:{event_type}")
    if event_type == "track":
        name = payload.get("event")
        if not isinstance(name, str) or not name.strip():
            shown = "missing" if name is None or name == "" else "expected a non-empty string"
            return _rejected(f"event: {shown}", message_id, kind)
        if kind == "track":
            return skipped(f"unsupported_track_event:{_clip(name.strip(), _EVENT_NAME_MAX_LENGTH)}")
    if skip := consent_skip(consent, config.require_consent):
        return skipped(skip)

    rule = _apply_rule(kind, payload, data, context, timestamp, config)
    if kind != "page":  # context.page is read by page events only
        problems = [p for p in problems if not p.startswith("context.page")]
    problems = problems + rule.problems
    if problems:
        return _rejected(problems, message_id, kind)
    if not (data.get("user_id") or data.get("anonymous_id") or rule.email):
        return _rejected(NO_IDENTITY, message_id, kind)
    return MappedEvent(
        status=Status.MAPPED,
        reason=None,
        message_id=message_id,
        kind=kind,
        timestamp=timestamp,
        email=rule.email,
        user_id=data.get("user_id"),
        anonymous_id=data.get("anonymous_id"),
        fields=rule.fields,
        order=rule.order,
        consent=consent,
        notes=tuple(rule.notes),
        clock_clamped_from=clamped_from,
    )


def _apply_rule(
    kind: str, payload: Mapping, data: dict, context: Mapping, timestamp: datetime, config: MappingConfig
) -> KindMapping:
    if kind == "identify":
        return map_identify(payload.get("traits"), data.get("user_id"), config)
    if kind == "page":
        rule = map_page(payload.get("properties"), context, config)
    elif kind == "product_viewed":
        rule = map_product_viewed(payload.get("properties"), config)
    else:
        rule = map_order_completed(payload.get("properties"), timestamp, config)
    # Page and track events carry identity in context.traits (often nothing: the worker knows the email).
    _traits, rule.email, email_problems = traits_email(_get(payload, "context", "traits"), "context.traits")
    rule.problems.extend(email_problems)
    return rule


def _get(source: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(source, Mapping):
            return None
        source = source.get(key)
    return source


def _clip(text: str, limit: int) -> str:
    text = clean_text(text)[0]
    return text if len(text) <= limit else text[:limit] + "..."


def _rejected(problems: str | list[str], message_id: str | None, kind: str | None = None) -> MappedEvent:
    reason = problems if isinstance(problems, str) else "; ".join(problems)
    return MappedEvent(
        status=Status.REJECTED,
        reason=_clip(reason, _REASON_MAX_LENGTH),
        message_id=message_id,
        kind=kind,
        timestamp=None,
    )
