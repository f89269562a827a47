"""SIGNAL_SECRET_KEY: Fernet keys only, newest first, and `signal-sendgrid rotate-keys` moving every stored API key
to the newest key in one transaction (the real command on PostgreSQL; the rotated key then works on the sandbox)."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from config.secrets import decrypt_key, encrypt_key, secret_for
from config.settings import ConfigError, load_settings
from models import Integration
from tests.factories import IntegrationFactory
from tests.fixtures.processes import cli
from tests.helpers.cli import invoke
from workers.integrations.status import client_for

NEW, OLD, LOST = (Fernet.generate_key().decode() for _ in range(3))


def stored(db) -> dict[int, str]:
    with db() as session:
        return dict(session.execute(select(Integration.id, Integration.api_key_encrypted)).all())


def add_integrations(db, sandbox, *secrets: str) -> None:
    with db.begin() as session:
        for secret in secrets:
            integration = IntegrationFactory(api_url=sandbox.url, default_list_id=sandbox.list_id)
            integration.api_key_encrypted = encrypt_key(sandbox.key, secret)
            session.add(integration)


def one_line(done) -> str:
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0], done.stdout + done.stderr
    return lines[0]


@pytest.mark.integration
def test_rotate_keys_moves_every_stored_key_to_the_newest_key(db, sandbox, service_env):
    add_integrations(db, sandbox, OLD, OLD, NEW)
    before = stored(db)

    done = invoke({**service_env, "SIGNAL_SECRET_KEY": f"{NEW},{OLD}"}, "rotate-keys")
    assert done.returncode == 0, done.stderr
    assert one_line(done) == (
        "re-encrypted 3 API keys with the newest of the 2 keys in SIGNAL_SECRET_KEY (2 were under an older key); "
        "the older keys can now be removed from SIGNAL_SECRET_KEY"
    )
    after = stored(db)
    assert all(after[i] != before[i] for i in before)
    # The old key can go: the newest alone decrypts every key, and the key still works against SendGrid.
    settings = load_settings({**service_env, "SIGNAL_SECRET_KEY": NEW})
    assert {decrypt_key(token, NEW) for token in after.values()} == {sandbox.key}
    with db() as session:
        assert client_for(session.get(Integration, min(after)), settings).scopes().status == 200

    again = invoke({**service_env, "SIGNAL_SECRET_KEY": NEW}, "rotate-keys")
    assert again.returncode == 0 and "(0 were under an older key)" in one_line(again)


@pytest.mark.integration
def test_rotate_keys_changes_nothing_when_a_stored_key_cannot_be_decrypted(db, sandbox, service_env):
    add_integrations(db, sandbox, OLD, LOST)
    before = stored(db)
    lost_id = max(before)

    done = cli({**service_env, "SIGNAL_SECRET_KEY": f"{NEW},{OLD}"}, "rotate-keys")
    assert done.returncode == 2
    assert one_line(done) == (
        f"error: no key in SIGNAL_SECRET_KEY decrypts the API key of integration {lost_id}: add the key it was "
        "encrypted with after the newest one (or `integrations update-key`); nothing was changed"
    )
    assert stored(db) == before  # one transaction: the readable key was not rotated either


@pytest.mark.parametrize(
    "value",
    ["a long passphrase that is not a key", f"{NEW},hunter2", "c2hvcnQ=", f"{NEW},,{OLD}", ","],
    ids=["passphrase", "key then passphrase", "short base64", "empty item", "only a comma"],  # keys are random
)
def test_a_secret_that_is_not_a_list_of_fernet_keys_is_refused_with_the_command_that_makes_one(value):
    with pytest.raises(ConfigError) as refused:
        load_settings({"SIGNAL_SECRET_KEY": value})
    message = str(refused.value)
    assert message.startswith("SIGNAL_SECRET_KEY must be Fernet keys separated by commas, newest first")
    assert "`signal-sendgrid generate-key`" in message and "\n" not in message
    assert all(part not in message for part in value.split(",") if len(part) > 3)  # the secret never echoed


def test_the_command_line_refuses_a_passphrase_in_one_line(tmp_path):
    env = {"PATH": os.environ["PATH"], "SIGNAL_HOME": str(tmp_path), "SIGNAL_SECRET_KEY": "correct horse battery"}
    done = cli(env, "stats")
    assert done.returncode == 2 and one_line(done).startswith("error: SIGNAL_SECRET_KEY must be Fernet keys")
    made = cli(env, "generate-key")
    assert made.returncode == 0 and Fernet(made.stdout.strip().encode())


def test_several_keys_decrypt_what_any_of_them_encrypted_and_encrypt_with_the_first():
    token = encrypt_key("SG.key", OLD)
    assert decrypt_key(token, f"{NEW},{OLD}") == "SG.key"
    assert decrypt_key(encrypt_key("SG.key", f"{NEW},{OLD}"), NEW) == "SG.key"
    with pytest.raises(ConfigError, match="does not decrypt"):
        decrypt_key(token, NEW)


@pytest.mark.parametrize("content", ["", "\n", "short", "a passphrase written by hand"])
def test_an_empty_or_damaged_key_file_is_refused(tmp_path, content):
    (tmp_path / "secret.key").write_text(content)
    with pytest.raises(ConfigError, match=r"the key file .*secret.key must be Fernet keys"):
        secret_for(load_settings({"SIGNAL_HOME": str(tmp_path)}))


def test_the_embedded_key_file_is_generated_as_a_fernet_key_readable_only_by_its_owner(tmp_path):
    secret = secret_for(load_settings({"SIGNAL_HOME": str(tmp_path)}))
    assert Fernet(secret.encode()) and secret_for(load_settings({"SIGNAL_HOME": str(tmp_path)})) == secret
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
