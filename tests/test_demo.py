"""The README's first command: the demo runs from a clean checkout with no service configured."""

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


def test_demo_delivers_contacts_on_embedded_defaults(clean_checkout: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "BROKER_", "SENDGRID_", "SIGNAL_"))}
    env["PYTHONPATH"] = str(clean_checkout)  # the checkout's code, not the installed copy
    done = subprocess.run(
        [sys.executable, "-c", "from workers.cli import main; main()", "demo"],
        cwd=clean_checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sqlite:///" in out and "in-memory" in out
    assert "ann.lee@example.com" in out and "bob@example.com" in out
    assert out.count("succeeded") >= 5
    assert "consent_denied" in out and "rejected" in out
    assert "'lifetime_value': 114.9" in out  # 89.90 + 25, the duplicate order counted once
    assert "cem@example.com" in out.split("suppressions")[-1]
    assert (clean_checkout / ".signal-sendgrid" / "demo.db").exists()
