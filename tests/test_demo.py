"""The README's first command: the demo runs from a clean checkout with no service configured, on the
embedded PostgreSQL server, and what it stored can be looked at again afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_checkout(tmp_path: Path) -> Path:
    """What `git clone` would give: the committed tree, nothing from this working copy's state."""
    archive = tmp_path / "head.tar"
    done = subprocess.run(["git", "archive", "--format=tar", "-o", str(archive), "HEAD"], cwd=ROOT, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.decode()[:200]}")
    target = tmp_path / "checkout"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def run(checkout: Path, *args: str, **env: str) -> str:
    """The checkout's command line with no service configured; its output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_"))}
    clean["PYTHONPATH"] = str(checkout)  # the checkout's code, not the installed copy
    done = subprocess.run(
        [sys.executable, "-c", "from workers.cli.main import main; main()", *args],
        cwd=checkout,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def assert_delivered(out: str) -> None:
    assert "ann.lee@example.com" in out and "bob@example.com" in out
    assert out.count("succeeded") >= 5
    assert "consent_denied" in out and "rejected" in out
    assert "'lifetime_value': 114.9" in out  # 89.90 + 25, the duplicate order counted once
    assert "cem@example.com" in out.split("suppressions")[-1]


def test_demo_delivers_contacts_on_embedded_defaults(clean_checkout: Path):
    out = run(clean_checkout, "demo")
    assert "embedded PostgreSQL" in out and "in-memory" in out
    assert_delivered(out)
    pgdata = clean_checkout / ".signal-sendgrid" / "demo" / "pgdata"
    assert (pgdata / "PG_VERSION").exists()
    assert not (pgdata / "postmaster.pid").exists()  # the demo stopped its server when it ended

    # The command the demo prints to inspect the result again starts the server on the same data.
    assert "Inspect it again: SIGNAL_HOME=.signal-sendgrid/demo signal-sendgrid deliveries" in out
    deliveries = run(clean_checkout, "deliveries", "--limit", "50", SIGNAL_HOME=".signal-sendgrid/demo")
    assert "ann.lee@example.com" in deliveries and "succeeded" in deliveries

    # A second run starts from an empty database: the same result, nothing counted twice.
    again = run(clean_checkout, "demo")
    assert_delivered(again)
    assert again.count("succeeded") == out.count("succeeded")
