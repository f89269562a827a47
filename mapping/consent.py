"""Whether an event may reach SendGrid at all: the `integrations` switch and marketing consent.

SendGrid events fall under the marketing consent category. A denial is honoured before anything else about the
event is checked, so a malformed event can never slip a denied person's data through; the caller still gets the
identity so it can add the email to SendGrid's suppressions.
"""

from __future__ import annotations

from collections.abc import Mapping

from mapping.coerce import describe
from mapping.result import SkipReason

DESTINATION_NAME = "sendgrid"


def _destination_key(key: object) -> str:
    """'SendGrid', 'sendgrid', 'Send_Grid', 'send-grid' all name this destination."""
    return "".join(ch for ch in key.lower() if ch not in " _-") if isinstance(key, str) else ""


def integrations_switch(integrations: Mapping[str, object] | None) -> tuple[bool, list[str]]:
    """(enabled, problems) for an event's `integrations` object.

    `false` for SendGrid (any spelling/case) disables; `{"All": false}` disables unless SendGrid is switched on
    with `true` or an options object. Values other than booleans and objects are problems, named by key.
    """
    if not integrations:
        return True, []
    own: list[bool] = []
    everything: list[bool] = []
    problems: list[str] = []
    for key, value in integrations.items():
        target = _destination_key(key)
        if target not in (DESTINATION_NAME, "all"):
            continue  # other destinations' switches are not ours to judge
        if isinstance(value, bool):
            enabled = value
        elif isinstance(value, Mapping):
            enabled = True  # an options object switches the destination on (Segment's convention)
        else:
            problems.append(f"integrations.{key}: expected true, false or an object, got {describe(value)}")
            continue
        (own if target == DESTINATION_NAME else everything).append(enabled)
    if own:
        return all(own), problems  # conflicting spellings: any false wins
    return all(everything), problems


def consent_skip(marketing: bool | None, require_consent: bool) -> SkipReason | None:
    """The skip reason consent imposes on an event, or None when it may be delivered."""
    if marketing is False:
        return SkipReason.CONSENT_DENIED
    if marketing is None and require_consent:
        return SkipReason.CONSENT_MISSING
    return None
