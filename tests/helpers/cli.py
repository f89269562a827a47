"""`signal-sendgrid` in this process, through click's CliRunner, for tests where no process boundary is under test
(reading what the product stored: `events`, `integrations --json`, `stats`). Tests of a real process (ingest, the
worker, the API server, exit codes of the installed binary, signals) keep `tests.fixtures.processes.cli`."""

from __future__ import annotations

import os
import subprocess

from click.testing import CliRunner

from workers.cli.main import main

PRODUCT_VARIABLES = ("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_")


def invoke(env: dict[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    """Like `cli(env, *args)`, answered the same way (returncode, stdout, stderr): the product's variables are
    exactly those of `env` while the command runs (the test process's own are hidden)."""
    product = {k: v for k, v in env.items() if k.startswith(PRODUCT_VARIABLES)}
    hidden = {k: None for k in os.environ if k.startswith(PRODUCT_VARIABLES) and k not in product}
    result = CliRunner().invoke(main, list(args), input=input, env={**hidden, **product})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["signal-sendgrid", *args], result.exit_code, result.stdout, result.stderr)
