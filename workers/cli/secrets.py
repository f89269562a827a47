"""Keys at rest: `signal-sendgrid generate-key` and `signal-sendgrid rotate-keys`.

Rotating SIGNAL_SECRET_KEY (docs/operations.md): put a new key first (`SIGNAL_SECRET_KEY=new,old`) in every
process, run `rotate-keys` once, then drop the old key. Until then each process decrypts with either key.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from config.secrets import reencrypt_key, secret_for, uses_newest_key
from config.settings import ConfigError
from models.db import session_scope
from workers.cli.common import ready_settings


@dataclass
class Rotation:
    reencrypted: int  # every stored key, now under the newest key
    were_older: int  # of them, how many an older key had encrypted


def rotate_keys(session: Session, secret: str) -> Rotation:
    """Re-encrypt every integration's API key with the newest key of `secret`, in the caller's transaction.

    All or nothing: if any stored key is decrypted by none of the keys, ConfigError names the integrations and
    nothing is changed (the caller rolls back)."""
    from models import Integration

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


@click.command("generate-key")
def generate_key() -> None:
    """Print a new Fernet key for SIGNAL_SECRET_KEY."""
    click.echo(Fernet.generate_key().decode())


@click.command("rotate-keys")
def rotate_keys_command() -> None:
    """Re-encrypt every stored API key with the newest key of SIGNAL_SECRET_KEY (the first), in one transaction."""
    settings = ready_settings()
    secret = secret_for(settings)
    with session_scope() as session:
        done = rotate_keys(session, secret)
    given = len(secret.split(","))
    click.echo(
        f"re-encrypted {done.reencrypted} API keys with the newest of the {given} keys in SIGNAL_SECRET_KEY "
        f"({done.were_older} were under an older key)"
        + ("; the older keys can now be removed from SIGNAL_SECRET_KEY" if given > 1 else "")
    )
