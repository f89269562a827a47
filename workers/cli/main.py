"""The `signal-sendgrid` command line: install, publish, ingest, watch deliveries, migrate.

This module is the entry point (`signal-sendgrid = "workers.cli.main:main"`): the group and its error handling.
The commands are in modules by topic, each importing only `workers.cli.common`, never this module:
`integrations` (install, integrations), `pipeline` (db upgrade, publish, ingest), `operations` (deliveries,
stats, replay), `api` (the admin HTTP API), `secrets` (generate-key, rotate-keys), `dev` (demo, sandbox).
"""

from __future__ import annotations

import logging
import sys

import click
from sqlalchemy.exc import OperationalError

from config.settings import ConfigError
from workers.cli.api import api_command
from workers.cli.common import database_failure
from workers.cli.dev import demo, sandbox_command
from workers.cli.events import events
from workers.cli.integrations import install, integrations
from workers.cli.operations import deliveries, replay, stats
from workers.cli.pipeline import db, ingest, publish
from workers.cli.privacy import erasures, forget
from workers.cli.secrets import generate_key, rotate_keys_command
from workers.integrations.lifecycle import IntegrationNotFound


class Main(click.Group):
    """Configuration problems end in one readable line and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except IntegrationNotFound as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except OperationalError as e:  # the database went away after the command's first check
            click.echo(f"error: {database_failure(e)}", err=True)
            sys.exit(2)


@click.group(cls=Main)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """signal-sendgrid: Datafly events -> SendGrid Marketing Campaigns contacts, every delivery recorded."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


COMMANDS = (
    db,
    install,
    integrations,
    publish,
    ingest,
    deliveries,
    events,
    stats,
    replay,
    forget,
    erasures,
    sandbox_command,
    api_command,
    demo,
    generate_key,
    rotate_keys_command,
)
for _command in COMMANDS:
    main.add_command(_command)
