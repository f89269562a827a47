"""The Procfile and docker-compose.yml name real commands with real options, and the compose file is valid."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Each process and the command it must reach (its options are checked by that command's own parser).
PROCESSES = {
    "release": "signal-sendgrid db upgrade",
    "ingest": "signal-sendgrid ingest",
    "worker": "celery worker",
    "beat": "celery beat",
    "flower": "celery flower",
    "api": "signal-sendgrid api",
}
SHELL_ENV = {"PATH": os.environ["PATH"], "FLOWER_BASIC_AUTH": "user:password"}  # PORT unset: the defaults apply

# Runs a console script's real entry point on the given arguments, but stops once the command that would run
# has parsed its command line, before its callback: click's own parsing rejects an unknown option or a bad value
# (exit 2, "No such option"), and nothing is started. Flower hands its options to tornado and silently drops
# those it does not know (a misspelled --basic-auth would start it without a password), so they are checked here.
PARSE_ONLY = r"""
import json, sys
from importlib.metadata import entry_points
import click

def check_flower(argv):
    from flower.command import is_flower_option
    from tornado.options import Error, options, parse_command_line
    unknown = [arg for arg in argv if not is_flower_option(arg)]
    if unknown:
        raise click.UsageError(f"flower does not know {unknown} (it would drop them and start without them)")
    try:
        parse_command_line(["flower", *argv])
    except Error as e:
        raise click.UsageError(f"flower: {e}") from None
    names = [arg.lstrip("-").partition("=")[0].replace("-", "_") for arg in argv]
    return {name: getattr(options, name) for name in names}

make_context = click.Command.make_context

def parse_only(self, info_name, args, parent=None, **extra):
    ctx = make_context(self, info_name, args, parent=parent, **extra)
    if isinstance(self, click.Group):
        return ctx  # a group's callback runs (celery's loads the app), then its subcommand is parsed
    params = check_flower(ctx.params["tornado_argv"]) if ctx.command_path.endswith(" flower") else ctx.params
    print(json.dumps({"command": ctx.command_path, "params": params}, default=str))
    ctx.exit(0)

click.Command.make_context = parse_only
name, *args = sys.argv[1:]
(script,) = entry_points(group="console_scripts", name=name)
sys.argv = [name, *args]
sys.exit(script.load()())
"""


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def expand(command: str, env: dict[str, str] = SHELL_ENV) -> subprocess.CompletedProcess:
    """The command's words after the shell's expansion (`${PORT:-8084}`, `${FLOWER_BASIC_AUTH:?...}`)."""
    script = f'set -- {command} && printf "%s\\0" "$@"'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=10)


def argv(name: str) -> list[str]:
    done = expand(procfile()[name])
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\0")[:-1]


def parse(words: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PARSE_ONLY, *words], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def misspell(option: str) -> str:
    """`--concurrency` -> `--concurrencyy`, `--port=8084` -> `--portt=8084`, `-l` -> `-L`."""
    if not option.startswith("--"):
        return option.swapcase()
    name, equals, value = option.partition("=")
    return f"{name}{name[-1]}{equals}{value}"


def misspelled(words: list[str]) -> list[list[str]]:
    """The command once per option with that option misspelled; with an unknown option if it has none."""
    options = [i for i, word in enumerate(words) if word.startswith("-")]
    if not options:
        return [[*words, "--no-such-option"]]
    return [[*words[:i], misspell(words[i]), *words[i + 1 :]] for i in options]


def test_procfile_has_every_process():
    assert set(procfile()) == set(PROCESSES)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_procfile_commands_parse_with_their_options(name):
    done = parse(argv(name))
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["command"] == PROCESSES[name]
    if name == "flower":
        assert parsed["params"] == {"port": 5555, "basic_auth": ["user:password"]}


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_a_misspelled_option_fails_the_check(name):
    for words in misspelled(argv(name)):
        done = parse(words)
        assert done.returncode == 2, (words, done.stdout, done.stderr)
        assert "no such option" in done.stderr.lower() or "does not know" in done.stderr, done.stderr


def test_flower_does_not_start_without_basic_auth():
    done = expand(procfile()["flower"], env={"PATH": os.environ["PATH"]})
    assert done.returncode != 0
    assert "FLOWER_BASIC_AUTH" in done.stderr


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


# What compose must be handed (no defaults): the stack refuses to start without each one.
COMPOSE_REQUIRED = (
    "POSTGRES_PASSWORD",
    "RABBITMQ_PASSWORD",
    "SIGNAL_SECRET_KEY",
    "SIGNAL_ADMIN_TOKEN",
    "FLOWER_BASIC_AUTH",
)
COMPOSE_ENV = {"PATH": "/usr/bin:/bin", **{name: f"check-{name.lower()}" for name in COMPOSE_REQUIRED}}
CREDENTIAL = re.compile(r"PASS|TOKEN|SECRET|KEY|AUTH", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")


def compose_text() -> str:
    return (ROOT / "docker-compose.yml").read_text()


def compose_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed (.ci/run installs docker-compose)")
    return subprocess.run([*command, *args, "config"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def test_docker_compose_config_is_valid():
    done = compose_config(COMPOSE_ENV, "--profile", "sandbox")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert {"rabbitmq", "postgres", "sandbox", "release", "worker", "beat", "api", "flower"} <= set(services)
    assert "--basic-auth=check-flower_basic_auth" in " ".join(services["flower"]["command"])
    assert all("healthcheck" in services[s] for s in ("rabbitmq", "postgres", "sandbox", "worker", "api"))
    # Two ingest consumers as two services: compose ignores deploy.replicas outside swarm.
    ingest = [name for name, service in services.items() if service.get("command") == ["signal-sendgrid", "ingest"]]
    assert len(ingest) == 2, ingest
    assert not any("deploy" in service for service in services.values())
    assert services["sandbox"]["profiles"] == ["sandbox"]
    environment = services["api"]["environment"]
    assert environment["BROKER_URL"] == "amqp://signal:check-rabbitmq_password@rabbitmq:5672//"
    assert environment["DATABASE_URL"] == "postgresql://signal:check-postgres_password@postgres:5432/signal"


def test_the_sandbox_runs_only_with_its_profile():
    raw = yaml.safe_load(compose_text())
    assert raw["services"]["sandbox"]["profiles"] == ["sandbox"]
    assert all("profiles" not in service for name, service in raw["services"].items() if name != "sandbox")


@pytest.mark.parametrize("name", COMPOSE_REQUIRED)
def test_compose_refuses_to_start_without_each_credential(name):
    done = compose_config({k: v for k, v in COMPOSE_ENV.items() if k != name})
    assert done.returncode != 0
    assert name in done.stderr


def test_every_published_port_is_bound_to_localhost():
    services = yaml.safe_load(compose_text())["services"]
    published = [(name, str(port)) for name, service in services.items() for port in service.get("ports", [])]
    assert len(published) >= 5
    assert all(port.startswith("127.0.0.1:") for _, port in published), published


def test_no_credential_has_a_default():
    text = compose_text()
    assert "guest" not in text and "change-me" not in text
    for match in INTERPOLATION.finditer(text):
        name, op, rest = match["name"], match["op"] or "", match["rest"]
        if name in COMPOSE_REQUIRED:
            assert op == ":?", match[0]  # required: no default at all
        elif CREDENTIAL.search(name):
            assert op in ("", ":-", "-") and rest == "", match[0]  # optional: unset means off, never a value
    # Credentials are never written in: every password in a URL and every credential variable is interpolated.
    for password in re.findall(r"://[^:/@\s]+:([^@\s]*)@", text):
        assert password.startswith("${"), password
    for service in yaml.safe_load(text)["services"].values():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if CREDENTIAL.search(key) and value not in (None, ""):
                assert str(value).startswith("${"), (key, value)


def test_the_image_copies_every_package_the_project_installs():
    """The Dockerfile names its folders one by one; a package added to pyproject.toml must be copied too."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert "requirements.lock" in (ROOT / "Dockerfile").read_text()
