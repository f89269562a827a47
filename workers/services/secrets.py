"""Keys at rest: moving every stored API key to the newest key of SIGNAL_SECRET_KEY (`signal-sendgrid rotate-keys`).

Rotating SIGNAL_SECRET_KEY (docs/operations.md): put a new key first (`SIGNAL_SECRET_KEY=new,old`) in every
process, rotate once, then drop the old key. Until then each process decrypts with either key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.secrets import reencrypt_key, uses_newest_key
from config.settings import ConfigError
from models import Integration


@dataclass
class Rotation:
    reencrypted: int  # every stored key, now under the newest key
    were_older: int  # of them, how many an older key had encrypted


def rotate_keys(session: Session, secret: str) -> Rotation:
    """Re-encrypt every integration's API key with the newest key of `secret`, in the caller's transaction (the
    rows locked; nothing to send after commit).

    All or nothing: if any stored key is decrypted by none of the keys, ConfigError names the integrations and
    nothing is changed (the caller rolls back)."""
    integrations = session.scalars(select(Integration).order_by(Integration.id).with_for_update()).all()
    unreadable, older = [], 0
    for integration in integrations:
        token = integration.api_key_encrypted
        try:
            integration.api_key_encrypted = reencrypt_key(token, secret)
        except ConfigError:
            unreadable.append(integration.id)
            continue
        older += not uses_newest_key(token, secret)
    if unreadable:
        ids = ", ".join(str(i) for i in unreadable)
        raise ConfigError(
            f"no key in SIGNAL_SECRET_KEY decrypts the API key of integration {ids}: add the key it was "
            f"encrypted with after the newest one (or `integrations update-key`); nothing was changed"
        )
    return Rotation(reencrypted=len(integrations), were_older=older)
