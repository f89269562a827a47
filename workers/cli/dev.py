"""Trying the project without SendGrid: `signal-sendgrid demo`, and `sandbox` (the SendGrid sandbox's command)."""

from __future__ import annotations

import sys

import click

from sandbox.cli import sandbox_command


@click.command()
@click.option("--keep", is_flag=True, help="Keep the previous demo database instead of starting fresh.")
def demo(keep: bool) -> None:
    """Run the whole pipeline on embedded defaults against the SendGrid sandbox, and show the result."""
    from demo.run import run_demo

    sys.exit(run_demo(keep))


__all__ = ["demo", "sandbox_command"]
