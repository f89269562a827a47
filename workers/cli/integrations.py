"""`signal-sendgrid install` and `signal-sendgrid integrations` (list, update-key, update, disable, enable, delete)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click

from models.db import session_scope
from workers.cli.common import ready_settings
from workers.services import integrations as service
from workers.services.vocabulary import parse_field_option


@contextmanager
def refusals(verb: str) -> Iterator[None]:
    """What the service refuses, in one line and exit 1: a duplicate (with the flag that overrides it), what to fix."""
    try:
        yield
    except service.DuplicateIntegration as e:
        click.echo(f"{verb} refused: {e} (--force)", err=True)
        sys.exit(1)
    except service.InstallError as e:
        click.echo(f"{verb} failed: {e}", err=True)
        sys.exit(1)


def echo_notes(result: service.Installed) -> None:
    """The warnings of an install or update, and the custom fields it created in SendGrid, on stderr."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.created_fields:
        click.echo(f"created custom fields: {', '.join(result.created_fields)}", err=True)


KEY_IN_PS = (
    "Given as an option the key shows in `ps` (and shell history) while the command runs: "
    "prefer the SENDGRID_API_KEY environment variable."
)


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    """`--field TRAIT=FIELD_NAME` options as trait -> custom field name; a bad one is a usage error."""
    try:
        return dict(parse_field_option(value) for value in values)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


@click.command()
@click.option(
    "--api-key",
    required=True,
    envvar="SENDGRID_API_KEY",
    show_envvar=True,
    help=f"SendGrid API key (Marketing scopes). {KEY_IN_PS}",
)
@click.option("--default-list-id", help="List to add identified contacts to.")
@click.option("--name", default="SendGrid", show_default=True)
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True)
@click.option("--field", "fields", multiple=True, metavar="TRAIT=FIELD_NAME", help="Map a trait to a custom field.")
@click.option("--user-id-field", help="Custom field that holds the user id (default signal_user_id).")
@click.option("--unsubscribe-group-id", type=int, help="Unsubscribe group for consent withdrawals.")
@click.option("--require-consent", is_flag=True, help="Deliver only events that carry marketing consent.")
@click.option("--force", is_flag=True, help="Install even when an integration of this account and list exists.")
def install(
    api_key, default_list_id, name, region, fields, user_id_field, unsubscribe_group_id, require_consent, force
):
    """Check the key, list and custom fields against SendGrid, then store a new integration.

    \b
    Keep the key out of `ps`: give it in the environment, for example
      read -rs SENDGRID_API_KEY && export SENDGRID_API_KEY
      signal-sendgrid install --default-list-id LIST_UUID
    """
    settings = ready_settings()
    options: dict = {"require_consent": require_consent}
    if user_id_field:
        options["user_id_field"] = user_id_field
    if unsubscribe_group_id is not None:
        options["unsubscribe_group_id"] = unsubscribe_group_id
    request = service.InstallRequest(
        api_key=api_key,
        name=name,
        default_list_id=default_list_id,
        region=region,
        trait_fields=parse_fields(fields),
        options=options,
        force=force,
    )
    with refusals("install"), session_scope() as session:
        result = service.install(session, request, settings)
    echo_notes(result)
    click.echo(result.integration["id"])


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def integrations(ctx: click.Context, as_json: bool) -> None:
    """List installed integrations (API keys masked); `--json` gives what GET /v1/admin/integrations gives."""
    if ctx.invoked_subcommand:
        return
    settings = ready_settings()
    with session_scope() as session:
        rows = service.list_integrations(session, settings)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=datetime.isoformat))
        return
    if not rows:
        click.echo("no integrations installed: run `SENDGRID_API_KEY=... signal-sendgrid install`")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['name']:<20} {row['status']:<14} key {row['api_key']}  {row['api_url']}")
        if row["status_reason"]:
            click.echo(f"      {row['status_reason']}")


@integrations.command("update-key")
@click.argument("integration_id", type=int)
@click.option(
    "--api-key",
    prompt=True,
    hide_input=True,
    envvar="SENDGRID_API_KEY",
    show_envvar=True,
    help=f"The new key; asked for (hidden) when neither this nor SENDGRID_API_KEY is given. {KEY_IN_PS}",
)
def update_key(integration_id: int, api_key: str) -> None:
    """Replace an integration's API key (checked first) and resume delivery. The key comes from
    SENDGRID_API_KEY or a hidden prompt, so it stays out of `ps`."""
    settings = ready_settings()
    with refusals("update"), session_scope() as session:
        service.update_key(session, integration_id, api_key, settings)
    click.echo(f"integration {integration_id}: key updated, delivery resumed")


@integrations.command("update")
@click.argument("integration_id", type=int)
@click.option("--default-list-id", help="New default list id (checked against SendGrid; '' drops it).")
@click.option("--field", "fields", multiple=True, metavar="TRAIT=FIELD_NAME", help="Replace the trait mappings.")
@click.option("--resume", is_flag=True, help="Set the integration active again, rechecked as `enable` does.")
@click.option("--force", is_flag=True, help="Accept a list another integration of this account delivers to.")
def update_integration(integration_id: int, default_list_id, fields: tuple[str, ...], resume: bool, force: bool):
    """Change an integration's list or trait mappings (checked as install checks them), or resume it after a
    configuration error was fixed."""
    settings = ready_settings()
    with refusals("update"), session_scope() as session:
        result = service.update(
            session,
            integration_id,
            settings,
            default_list_id=service.UNCHANGED if default_list_id is None else default_list_id,
            trait_fields=parse_fields(fields) if fields else None,
            force=force,
            resume=resume,
        )
    echo_notes(result)
    status, reason = result.integration["status"], result.integration["status_reason"]
    click.echo(f"integration {integration_id} updated ({status})" + (f": {reason}" if resume and reason else ""))


@integrations.command("disable")
@click.argument("integration_id", type=int)
def disable(integration_id: int) -> None:
    """Stop delivering to an integration until `enable` (its history stays)."""
    settings = ready_settings()
    with session_scope() as session:
        service.disable(session, integration_id, settings)
    click.echo(f"integration {integration_id} disabled: {service.DISABLE_NOTE}")


@integrations.command("enable")
@click.argument("integration_id", type=int)
def enable(integration_id: int) -> None:
    """Deliver to a disabled (or paused) integration again; its queued deliveries go out now."""
    settings = ready_settings()
    with session_scope() as session:
        shown = service.enable(session, integration_id, settings)
    status, reason = shown["status"], shown["status_reason"]
    click.echo(f"integration {integration_id} {status}" + (f": {reason}" if reason else ""))


@integrations.command("delete")
@click.argument("integration_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(integration_id: int, yes: bool) -> None:
    """Delete an integration with its deliveries, attempts, import jobs and contact state; events stay."""
    ready_settings()
    if not yes:
        click.confirm(
            f"delete integration {integration_id} and its delivery history? ({service.DELETE_KEEPS})", abort=True
        )
    with session_scope() as session:
        removed = service.delete(session, integration_id)
    click.echo(removed.summary())
