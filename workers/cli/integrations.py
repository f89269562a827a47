"""`signal-sendgrid install` and `signal-sendgrid integrations` (list, update-key, update, disable, enable, delete)."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from config.secrets import redact
from models import Integration
from models.db import session_scope
from workers.cli.common import flush_after_commit, ready_settings

KEY_IN_PS = (
    "Given as an option the key shows in `ps` (and shell history) while the command runs: "
    "prefer the SENDGRID_API_KEY environment variable."
)


def parse_fields(values: tuple[str, ...]) -> dict[str, str]:
    fields = {}
    for value in values:
        trait, sep, name = value.partition("=")
        if not sep or not trait.strip() or not name.strip():
            raise click.BadParameter(f"{value!r}: expected TRAIT=FIELD_NAME", param_hint="--field")
        fields[trait.strip()] = name.strip()
    return fields


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
    from workers.integrations.install import InstallError, InstallRequest
    from workers.integrations.install import install as do_install
    from workers.integrations.lifecycle import DuplicateIntegration

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
        force=force,
    )
    try:
        with session_scope() as session:
            result = do_install(session, request, settings)
            integration_id = result.integration.id
    except DuplicateIntegration as e:
        click.echo(f"install refused: {e} (--force)", err=True)
        sys.exit(1)
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
    from workers.integrations.status import shown_status

    if ctx.invoked_subcommand:
        return
    settings = ready_settings()
    with session_scope() as session:
        rows = []
        for i in session.scalars(select(Integration).order_by(Integration.id)):
            status, reason = shown_status(i, settings)
            rows.append({
                "id": i.id, "name": i.name, "status": status.value, "api_key": i.api_key_hint, "api_url": i.api_url,
                "default_list_id": i.default_list_id, "fields": i.field_ids, "status_reason": reason,
            })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
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
@click.option("--default-list-id", help="New default list id (checked against SendGrid; '' drops it).")
@click.option("--field", "fields", multiple=True, metavar="TRAIT=FIELD_NAME", help="Replace the trait mappings.")
@click.option("--resume", is_flag=True, help="Set the integration active again.")
@click.option("--force", is_flag=True, help="Accept a list another integration of this account delivers to.")
def update_integration(integration_id: int, default_list_id, fields: tuple[str, ...], resume: bool, force: bool):
    """Change an integration's list or trait mappings (checked as install checks them), or resume it after a
    configuration error was fixed."""
    from models import IntegrationStatus
    from workers.integrations.install import UNCHANGED, InstallError
    from workers.integrations.install import update_integration as do_update
    from workers.integrations.lifecycle import DuplicateIntegration, get_integration

    settings = ready_settings()
    try:
        with session_scope() as session:
            integration = get_integration(session, integration_id, lock=True)
            if default_list_id is not None or fields:
                result = do_update(
                    session,
                    integration,
                    settings,
                    default_list_id=UNCHANGED if default_list_id is None else default_list_id,
                    trait_fields=parse_fields(fields) if fields else None,
                    force=force,
                )
                for warning in result.warnings:
                    click.echo(f"warning: {warning}", err=True)
                if result.created_fields:
                    click.echo(f"created custom fields: {', '.join(result.created_fields)}", err=True)
            if resume:
                integration.status, integration.status_reason = IntegrationStatus.ACTIVE, None
            status = integration.status.value
            flush_after_commit(session, [integration_id])
    except DuplicateIntegration as e:
        click.echo(f"update refused: {e} (--force)", err=True)
        sys.exit(1)
    except InstallError as e:
        click.echo(f"update failed: {e}", err=True)
        sys.exit(1)
    click.echo(f"integration {integration_id} updated ({status})")


@integrations.command("disable")
@click.argument("integration_id", type=int)
def disable(integration_id: int) -> None:
    """Stop delivering to an integration until `enable` (its history stays)."""
    from workers.integrations.lifecycle import DISABLE_NOTE, disable_integration

    ready_settings()
    with session_scope() as session:
        disable_integration(session, integration_id)
    click.echo(f"integration {integration_id} disabled: {DISABLE_NOTE}")


@integrations.command("enable")
@click.argument("integration_id", type=int)
def enable(integration_id: int) -> None:
    """Deliver to a disabled (or paused) integration again; its queued deliveries go out now."""
    from workers.integrations.lifecycle import enable_integration

    settings = ready_settings()
    with session_scope() as session:
        integration = enable_integration(session, integration_id, settings)
        status, reason = integration.status.value, integration.status_reason
        flush_after_commit(session, [integration_id])
    click.echo(f"integration {integration_id} {status}" + (f": {reason}" if reason else ""))


@integrations.command("delete")
@click.argument("integration_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(integration_id: int, yes: bool) -> None:
    """Delete an integration with its deliveries, attempts, import jobs and contact state; events stay."""
    from workers.integrations.lifecycle import DELETE_KEEPS, delete_integration

    ready_settings()
    if not yes:
        click.confirm(f"delete integration {integration_id} and its delivery history? ({DELETE_KEEPS})", abort=True)
    with session_scope() as session:
        removed = delete_integration(session, integration_id)
    click.echo(removed.summary())
