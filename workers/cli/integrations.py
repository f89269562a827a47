"""`signal-sendgrid install` and `signal-sendgrid integrations` (list, update-key, update)."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from config.secrets import redact
from models import Integration
from models.db import session_scope
from workers.cli.common import flush_after_commit, ready_settings


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields = {}
    for value in values:
        trait, sep, name = value.partition("=")
        if not sep or not trait.strip() or not name.strip():
            raise click.BadParameter(f"{value!r}: expected TRAIT=FIELD_NAME", param_hint="--field")
        fields[trait.strip()] = name.strip()
    return fields


@click.command()
@click.option("--api-key", required=True, envvar="SENDGRID_API_KEY", help="SendGrid API key (Marketing scopes).")
@click.option("--default-list-id", help="List to add identified contacts to.")
@click.option("--name", default="SendGrid", show_default=True)
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True)
@click.option("--field", "fields", multiple=True, metavar="TRAIT=FIELD_NAME", help="Map a trait to a custom field.")
@click.option("--user-id-field", help="Custom field that holds the user id (default signal_user_id).")
@click.option("--unsubscribe-group-id", type=int, help="Unsubscribe group for consent withdrawals.")
@click.option("--require-consent", is_flag=True, help="Deliver only events that carry marketing consent.")
def install(api_key, default_list_id, name, region, fields, user_id_field, unsubscribe_group_id, require_consent):
    """Check the key, list and custom fields against SendGrid, then store a new integration."""
    from workers.integrations.install import InstallError, InstallRequest
    from workers.integrations.install import install as do_install

    settings = ready_settings()
    options: dict = {"require_consent": require_consent}
    if user_id_field:
        options["user_id_field"] = user_id_field
    if unsubscribe_group_id is not None:
        options["unsubscribe_group_id"] = unsubscribe_group_id
    request = InstallRequest(
        api_key=api_key,
        name=name,
        default_list_id=default_list_id,
        region=region,
        trait_fields=parse_fields(fields),
        options=options,
    )
    try:
        with session_scope() as session:
            result = do_install(session, request, settings)
            integration_id = result.integration.id
    except InstallError as e:
        click.echo(f"install failed: {redact(str(e), api_key)}", err=True)
        sys.exit(1)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.created_fields:
        click.echo(f"created custom fields: {', '.join(result.created_fields)}", err=True)
    click.echo(integration_id)


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def integrations(ctx: click.Context, as_json: bool) -> None:
    """List installed integrations (API keys masked)."""
    if ctx.invoked_subcommand:
        return
    ready_settings()
    with session_scope() as session:
        rows = [
            {
                "id": i.id,
                "name": i.name,
                "status": i.status.value,
                "api_key": i.api_key_hint,
                "api_url": i.api_url,
                "default_list_id": i.default_list_id,
                "fields": i.field_ids,
                "status_reason": i.status_reason,
            }
            for i in session.scalars(select(Integration).order_by(Integration.id))
        ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no integrations installed: run `signal-sendgrid install --api-key ...`")
    for row in rows:
        click.echo(f"{row['id']:>4}  {row['name']:<20} {row['status']:<12} key {row['api_key']}  {row['api_url']}")
        if row["status_reason"]:
            click.echo(f"      {row['status_reason']}")


@integrations.command("update-key")
@click.argument("integration_id", type=int)
@click.option("--api-key", prompt=True, hide_input=True, envvar="SENDGRID_API_KEY")
def update_key(integration_id: int, api_key: str) -> None:
    """Replace an integration's API key (checked first) and resume delivery."""
    from workers.integrations.install import InstallError
    from workers.integrations.install import update_key as do_update

    settings = ready_settings()
    try:
        with session_scope() as session:
            integration = session.get(Integration, integration_id)
            if integration is None:
                raise click.ClickException(f"no integration {integration_id}")
            do_update(session, integration, api_key, settings)
            flush_after_commit(session, [integration_id])
    except InstallError as e:
        click.echo(f"update failed: {redact(str(e), api_key)}", err=True)
        sys.exit(1)
    click.echo(f"integration {integration_id}: key updated, delivery resumed")


@integrations.command("update")
@click.argument("integration_id", type=int)
@click.option("--default-list-id", help="New default list id.")
@click.option("--resume", is_flag=True, help="Set the integration active again.")
def update_integration(integration_id: int, default_list_id: str | None, resume: bool) -> None:
    """Change an integration's list, or resume it after a configuration error was fixed."""
    from models import IntegrationStatus

    ready_settings()
    with session_scope() as session:
        integration = session.get(Integration, integration_id)
        if integration is None:
            raise click.ClickException(f"no integration {integration_id}")
        if default_list_id is not None:
            integration.default_list_id = default_list_id or None
            resume = True
        if resume:
            integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
        flush_after_commit(session, [integration_id])
    click.echo(f"integration {integration_id} updated")
