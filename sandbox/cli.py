"""``signal-sendgrid sandbox``: run the SendGrid sandbox as its own process until Ctrl-C."""

from __future__ import annotations

import signal
import time
from types import FrameType

import click

from sandbox import DEFAULT_GROUP_ID, DEFAULT_GROUP_NAME, keys_from_specs, mask_key
from sandbox.server import SandboxServer


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # stop on SIGTERM (process managers) as on Ctrl-C


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (0.0.0.0 in a container).")
@click.option("--port", default=8089, show_default=True, help="Port on 127.0.0.1 (0: any free port).")
@click.option("--key", "keys", multiple=True, help="Accepted key; SG.xxx:scope1,scope2 limits its scopes.")
@click.option("--list", "lists", multiple=True, help="A list id that exists (default: the demo list).")
@click.option("--group", "groups", multiple=True, type=int, help="An unsubscribe group id that exists.")
@click.option("--apply-delay", default=1.0, show_default=True, help="Seconds before an import job applies.")
@click.option("--rate-limit", default=600, show_default=True, help="Requests per key per window.")
@click.option("--rate-window", default=1.0, show_default=True, help="Rate-limit window in seconds.")
@click.option("--relative-reset", is_flag=True, help="X-RateLimit-Reset in seconds from now, not epoch.")
@click.option("--latency-ms", default=0.0, help="Added latency on every API request.")
@click.option("--error-rate", default=0.0, help="Share of API requests answered with --error-status.")
@click.option("--error-status", default=503, show_default=True, help="Status of injected errors.")
@click.option("--reset-rate", default=0.0, help="Share of API requests whose connection is reset.")
@click.option("--seed", type=int, default=None, help="Seed for the fault dice.")
@click.option("--verbose", is_flag=True, help="Log every request to stderr.")
def sandbox_command(
    host: str,
    port: int,
    keys: tuple[str, ...],
    lists: tuple[str, ...],
    groups: tuple[int, ...],
    apply_delay: float,
    rate_limit: int,
    rate_window: float,
    relative_reset: bool,
    latency_ms: float,
    error_rate: float,
    error_status: int,
    reset_rate: float,
    seed: int | None,
    verbose: bool,
) -> None:
    """Serve a local stand-in for SendGrid's Marketing Contacts API."""
    faults = {
        "latency_ms": latency_ms,
        "error_rate": error_rate,
        "error_status": error_status,
        "reset_rate": reset_rate,
    }
    server = SandboxServer(
        port=port,
        keys=keys_from_specs(keys) if keys else None,
        lists=list(lists) or None,
        apply_delay=apply_delay,
        rate_limit=rate_limit,
        rate_window=rate_window,
        relative_reset=relative_reset,
        groups={gid: f"{DEFAULT_GROUP_NAME} {gid}" for gid in groups} or {DEFAULT_GROUP_ID: DEFAULT_GROUP_NAME},
        seed=seed,
        faults=faults,
        quiet=not verbose,
        host=host,
    ).start()
    click.echo(f"SendGrid sandbox listening on {server.url}", nl=True)
    click.echo(f"  SENDGRID_API_URL={server.url}")
    for key in server.state.keys:
        click.echo(f"  key: {mask_key(key)}")
    click.echo(f"  lists: {', '.join(server.state.lists)}")
    click.echo(f"  control API: {server.url}/_sandbox/  (local only, no key)")
    click.echo("Ctrl-C to stop.")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.stop()
