"""Keys at rest: `signal-sendgrid generate-key` and `signal-sendgrid rotate-keys` (the work is
`workers.services.secrets`).

Rotating SIGNAL_SECRET_KEY (docs/operations.md): put a new key first (`SIGNAL_SECRET_KEY=new,old`) in every
process, run `rotate-keys` once, then drop the old key. Until then each process decrypts with either key.
"""

from __future__ import annotations

import click
from cryptography.fernet import Fernet

from config.secrets import secret_for
from models.db import session_scope
from workers.cli.common import ready_settings
from workers.services.secrets import rotate_keys


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
