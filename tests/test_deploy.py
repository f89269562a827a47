"""The Procfile and docker-compose.yml name real commands, and the compose file is valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PROCESSES = {"release", "ingest", "worker", "beat", "flower", "api"}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_procfile_has_every_process():
    assert set(procfile()) == PROCESSES


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_procfile_commands_exist(name):
    command = procfile()[name].split()
    if command[0] == "signal-sendgrid":
        args = [str(BIN / "signal-sendgrid"), *[a for a in command[1:] if not a.startswith(("-", "$"))][:2]]
    else:  # celery -A workers <subcommand>
        args = [str(BIN / "celery"), "-A", "workers", command[3]]
    done = subprocess.run([*args, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_is_valid():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)")
    env = {"PATH": "/usr/bin:/bin", "SIGNAL_SECRET_KEY": "compose-check"}
    done = subprocess.run([*command, "config"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert {"rabbitmq", "postgres", "sandbox", "ingest", "worker", "beat", "flower"} <= set(config["services"])
    assert "--basic-auth" in " ".join(config["services"]["flower"]["command"])
    assert all("healthcheck" in config["services"][s] for s in ("rabbitmq", "postgres", "sandbox"))
