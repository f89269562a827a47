"""`signal-sendgrid forget` (erase a person here and in SendGrid) and `erasures` (what erasures did)."""

from __future__ import annotations

import json
from typing import TextIO

import click

from workers.cli.common import ready_settings


@click.command()
@click.option(
    "--email-file",
    type=click.File("r", encoding="utf-8"),
    metavar="PATH",
    help="Read the person's email from this file (its first line), or from stdin with `-`: it stays out of `ps`.",
)
@click.option(
    "--email",
    help="The person's email. It shows in `ps` (and shell history) while the command runs: "
    "prefer --email-file PATH or `--email-file -` (stdin).",
)
@click.option("--user-id", help="The person's userId (resolved to their email through the identity links).")
@click.option("--queue", is_flag=True, help="Queue it for the workers and return at once (default: run it here).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for SendGrid when run here.")
@click.option("--json", "as_json", is_flag=True)
def forget(
    email_file: TextIO | None, email: str | None, user_id: str | None, queue: bool, timeout: float, as_json: bool
) -> None:
    """Forget a person: remove them here, delete their SendGrid contact in every integration (docs/privacy.md).

    \b
    Keep the email out of `ps`:
      echo ann@example.com | signal-sendgrid forget --email-file -
      signal-sendgrid forget --email-file /run/secrets/forget-email
    """
    from models.db import session_factory
    from workers.services import privacy

    if email_file is not None:
        if email is not None:
            raise click.UsageError("give --email or --email-file, not both")
        email = first_line(email_file)
    try:
        person = privacy.subject(email, user_id)
    except privacy.ErasureError as e:
        raise click.UsageError(str(e)) from e
    settings = ready_settings()
    sessions = session_factory()
    with sessions.begin() as session:
        erasure_id = privacy.request_erasure(session, settings, person, queue=queue)["id"]
    if queue:
        click.echo(f"erasure {erasure_id} queued: `signal-sendgrid erasures {erasure_id}` shows its progress")
        return
    privacy.run(sessions, settings, erasure_id, timeout)
    show(sessions, erasure_id, as_json)


def first_line(source: TextIO) -> str:
    """The first non-blank line of an --email-file (a file or stdin), stripped; refused when there is none."""
    for line in source:
        if line.strip():
            return line.strip()
    raise click.UsageError("--email-file holds no email (it is empty)")


@click.command()
@click.argument("erasure_id", type=int, required=False)
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def erasures(erasure_id: int | None, limit: int, as_json: bool) -> None:
    """The newest erasures, or one in full: status, rows removed per table, what SendGrid did."""
    from models.db import session_factory
    from workers.services import privacy

    ready_settings()
    sessions = session_factory()
    if erasure_id is not None:
        show(sessions, erasure_id, as_json)
        return
    with sessions() as session:
        rows = privacy.recent(session, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for r in rows:
        removed = ", ".join(f"{k} {v}" for k, v in r["removed"].items()) or "-"
        click.echo(f"{r['id']:>6}  {r['requested_at']:%Y-%m-%d %H:%M:%S}  {r['status']:<10}  {removed}")


def show(sessions, erasure_id: int, as_json: bool) -> None:  # noqa: ANN001 - a sessionmaker
    from workers.services import privacy

    with sessions() as session:
        summary = privacy.summary(session, erasure_id)
    if summary is None:
        raise click.ClickException(f"no erasure {erasure_id}")
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"erasure {summary['id']}: {summary['status']} (requested {summary['requested_at']:%Y-%m-%d %H:%M:%S})")
    click.echo("removed here: " + (", ".join(f"{k} {v}" for k, v in summary["removed"].items()) or "nothing yet"))
    for s in summary["sendgrid"]:
        jobs = ", ".join(s["job_ids"]) or "no job"
        line = f"integration {s['integration_id']}: {s['outcome'] or s['step']}, {s['deleted']} deleted ({jobs})"
        click.echo(line + (f"; {s['error']}" if s["error"] else ""))
    if summary["error"]:
        click.echo(f"last problem: {summary['error']}")
