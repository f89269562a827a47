"""Keys and emails stay out of `ps`: `install` and `integrations update-key` take the key from SENDGRID_API_KEY
(or a hidden prompt), `forget` the email from `--email-file PATH` or stdin (`--email-file -`); `--api-key` and
`--email` still work, and their help says they show in `ps`. In-process through click's CliRunner, on the real
test database and the sandbox."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from models import Contact, Integration
from tests.factories import identify
from tests.helpers.privacy import deliver, store
from workers.cli.main import main

# The commands open their own connections: they see committed rows only.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("committed_db")]

EMAIL = "ps.paula@example.com"


@pytest.fixture
def run(pg_url, settings):
    """`signal-sendgrid ARGS` in this process with the test database, the sandbox as SendGrid and no key set."""

    def invoke(*args: str, input: str | None = None, **env: str | None):
        env = {"DATABASE_URL": pg_url, "SENDGRID_API_KEY": None, **env}
        return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)

    return invoke


def integrations(db) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Integration))


def test_install_takes_the_key_from_SENDGRID_API_KEY(db, sandbox, run):
    result = run("install", "--default-list-id", sandbox.list_id, SENDGRID_API_KEY=sandbox.key)
    assert result.exit_code == 0, result.output
    assert integrations(db) == 1


def test_install_still_takes_api_key_and_without_either_says_so(db, sandbox, run):
    missing = run("install", "--default-list-id", sandbox.list_id)
    assert missing.exit_code == 2 and "SENDGRID_API_KEY" in missing.output
    result = run("install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id)
    assert result.exit_code == 0, result.output
    assert integrations(db) == 1


@pytest.mark.parametrize("how", ["env", "prompt", "option"])
def test_update_key_takes_the_key_from_the_environment_a_prompt_or_the_option(db, sandbox, integration, run, how):
    args, env, prompt = ["integrations", "update-key", str(integration.id)], {}, None
    if how == "env":
        env["SENDGRID_API_KEY"] = sandbox.key
    elif how == "prompt":
        prompt = sandbox.key + "\n"
    else:
        args += ["--api-key", sandbox.key]
    result = run(*args, input=prompt, **env)
    assert result.exit_code == 0, result.output
    assert "key updated" in result.output and sandbox.key not in result.output


def test_update_key_reads_a_wrong_key_from_the_environment_and_says_no(sandbox, integration, run):
    result = run("integrations", "update-key", str(integration.id), SENDGRID_API_KEY="SG.not-the-key")
    assert result.exit_code == 1 and "update failed" in result.output and "SG.not-the-key" not in result.output


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_forget_reads_the_email_from_a_file_or_stdin(db, sandbox, integration, run, tmp_path, source):
    deliver(db, sandbox, store(db, identify(EMAIL, "ps-paula", 1, first_name="Paula")))
    assert sandbox.contact(EMAIL) is not None
    if source == "file":
        path = tmp_path / "email"
        path.write_text(f"\n  {EMAIL.upper()}  \n")
        result = run("forget", "--email-file", str(path))
    else:
        result = run("forget", "--email-file", "-", input=EMAIL + "\n")
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "contacts 1" in result.output
    assert sandbox.contact(EMAIL) is None
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_forget_still_takes_email(db, sandbox, integration, run):
    deliver(db, sandbox, store(db, identify(EMAIL, "ps-paula", 1)))
    result = run("forget", "--email", EMAIL)
    assert result.exit_code == 0 and "completed" in result.output, result.output
    assert sandbox.contact(EMAIL) is None


@pytest.mark.parametrize(
    ("args", "input", "says"),
    [
        (["--email-file", "-"], "\n  \n", "--email-file holds no email"),
        (["--email-file", "-", "--email", EMAIL], EMAIL, "not both"),
        (["--email-file", "-", "--user-id", "u1"], EMAIL, "exactly one of email or user_id"),
        (["--email-file", "-"], "not an email\n", "email is not an email address"),
        (["--email-file", "/nonexistent/email"], None, "No such file"),
    ],
)
def test_forget_refuses_an_email_file_that_names_nobody_clearly(db, run, args, input, says):
    result = run("forget", *args, input=input)
    assert result.exit_code == 2 and says in result.output, result.output


@pytest.mark.parametrize(
    ("command", "safer"),
    [
        (["install"], "SENDGRID_API_KEY"),
        (["integrations", "update-key"], "SENDGRID_API_KEY"),
        (["forget"], "--email-file"),
    ],
)
def test_the_help_prefers_the_forms_that_stay_out_of_ps(command, safer):
    shown = CliRunner().invoke(main, [*command, "--help"], terminal_width=200, max_content_width=200).output
    unsafe = "--email" if command == ["forget"] else "--api-key"
    option_help = next(line for line in shown.splitlines() if line.strip().startswith(unsafe + " "))
    assert "`ps`" in option_help and safer in option_help
    assert "env var: SENDGRID_API_KEY" in shown if safer == "SENDGRID_API_KEY" else "--email-file -" in shown
