"""Configuration from the environment: embedded defaults and one-line errors that hide passwords."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from config.secrets import decrypt_key, encrypt_key, mask_key, redact
from config.settings import SENDGRID_API_US, ConfigError, Settings, hide_password, load_settings

KEY = "SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
NEW, OLD = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_embedded_defaults_need_no_services():
    settings = load_settings({})
    assert settings.embedded_database and settings.database_url is None  # the embedded PostgreSQL server
    assert settings.home == Path(".signal-sendgrid")
    assert settings.broker_url == "memory://"
    assert settings.sendgrid_api_url == SENDGRID_API_US
    assert load_settings({"SIGNAL_HOME": "/srv/signal"}).home == Path("/srv/signal")


def test_each_setting_names_its_variable_and_its_default_is_written_once():
    assert load_settings({}) == Settings()  # an unset variable gives the field's own default
    assert {item.name: item.metadata["env"] for item in fields(Settings)} == {
        "database_url": "DATABASE_URL",
        "broker_url": "BROKER_URL",
        "sendgrid_api_url": "SENDGRID_API_URL",
        "secret_key": "SIGNAL_SECRET_KEY",
        "admin_token": "SIGNAL_ADMIN_TOKEN",
        "home": "SIGNAL_HOME",
        "retry_base_seconds": "SIGNAL_RETRY_BASE_SECONDS",
        "retry_cap_seconds": "SIGNAL_RETRY_CAP_SECONDS",
        "retry_window": "SIGNAL_RETRY_WINDOW_HOURS",
        "hold_window": "SIGNAL_HOLD_WINDOW_HOURS",
        "max_clock_skew": "SIGNAL_MAX_CLOCK_SKEW_HOURS",
        "retention": "SIGNAL_RETENTION_DAYS",
        "trusted_proxies": "SIGNAL_TRUSTED_PROXIES",
        "ingest_token": "SIGNAL_INGEST_TOKEN",
        "metrics_token": "SIGNAL_METRICS_TOKEN",
        "api_read_deadline": "SIGNAL_API_READ_DEADLINE_SECONDS",
        "api_connections_per_client": "SIGNAL_API_CONNECTIONS_PER_CLIENT",
    }


@pytest.mark.parametrize("name", ["SIGNAL_RETRY_WINDOW_HOURS", "SIGNAL_HOLD_WINDOW_HOURS"])
def test_a_window_that_timedelta_cannot_hold_is_refused_naming_the_setting(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: "inf"})


def test_a_database_url_names_postgresql():
    settings = load_settings({"DATABASE_URL": "postgresql://u@h/db"})
    assert not settings.embedded_database and settings.database_url == "postgresql+psycopg://u@h/db"


def test_postgres_urls_get_the_psycopg_driver():
    assert load_settings({"DATABASE_URL": "postgres://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "mysql://u:pw@h/db"}, "DATABASE_URL must start with"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "DATABASE_URL must start with postgresql://"),
        ({"DATABASE_URL": "postgresql://u:pw@h:port/db"}, "DATABASE_URL is malformed"),
        ({"BROKER_URL": "redis://u:pw@h/0"}, "BROKER_URL must start with"),
        ({"SENDGRID_API_URL": "ftp://x"}, "SENDGRID_API_URL must start with"),
    ],
)
def test_bad_urls_name_the_setting_and_hide_the_password(env, expected):
    with pytest.raises(ConfigError) as failure:
        load_settings(env)
    assert expected in str(failure.value)
    assert "pw" not in str(failure.value).replace("postgresql", "")


def test_hide_password():
    assert hide_password("amqp://guest:secret@rabbit:5672//") == "amqp://guest:***@rabbit:5672//"
    assert hide_password("postgresql://u@h/db") == "postgresql://u@h/db"
    assert hide_password("postgresql+psycopg://postgres:@/postgres?host=/tmp/x") == (
        "postgresql+psycopg://postgres:@/postgres?host=/tmp/x"  # the embedded server's: no password to hide
    )
    assert hide_password("postgresql+psycopg://u:s3cret@db:5432/signal") == "postgresql+psycopg://u:***@db:5432/signal"


@pytest.mark.parametrize("password", ["p/ss", "p#ss", "p?ss", "p@ss", "p%2Fss", "a:b"])
def test_hide_password_also_hides_passwords_that_break_url_parsing(password):
    for url in (f"amqp://guest:{password}@rabbit:5672//", f"postgresql://signal:{password}@db/signal"):
        shown = hide_password(url)
        assert password not in shown and "***" in shown, shown


def test_settings_repr_shows_no_secret():
    env = {
        "DATABASE_URL": "postgresql://signal:db-secret@db/signal",
        "BROKER_URL": "amqp://guest:broker-secret@rabbit:5672//",
        "SIGNAL_SECRET_KEY": f"{NEW},{OLD}",
        "SIGNAL_ADMIN_TOKEN": "the-admin-token-" + "a" * 32,
        "SIGNAL_INGEST_TOKEN": "the-ingest-token-" + "b" * 32,
        "SIGNAL_METRICS_TOKEN": "the-metrics-token-" + "c" * 32,
    }
    shown = repr(load_settings(env))
    for secret in ("db-secret", "broker-secret", NEW, OLD, "the-admin-token", "the-ingest-token", "the-metrics"):
        assert secret not in shown
    assert "db/signal" in shown and "rabbit:5672" in shown


def test_retry_and_hold_settings_are_read_once_with_the_settings():
    settings = load_settings({"SIGNAL_RETRY_BASE_SECONDS": "0.5", "SIGNAL_HOLD_WINDOW_HOURS": "1"})
    assert settings.retry_base_seconds == 0.5 and settings.hold_window.total_seconds() == 3600
    with pytest.raises(ConfigError, match="SIGNAL_RETRY_CAP_SECONDS must be a number"):
        load_settings({"SIGNAL_RETRY_CAP_SECONDS": "ten"})


@pytest.mark.parametrize(
    ("value", "hours"), [(None, 24.0), ("1", 1.0), ("0.5", 0.5), ("48", 48.0)], ids=["default", "1", "0.5", "48"]
)
def test_max_clock_skew_is_read_in_hours(value: str | None, hours: float):
    env = {} if value is None else {"SIGNAL_MAX_CLOCK_SKEW_HOURS": value}
    assert load_settings(env).max_clock_skew.total_seconds() == hours * 3600


@pytest.mark.parametrize("value", ["0", "-1", "a day", "inf", "nan", "1e20"])
def test_a_max_clock_skew_that_cannot_be_used_is_refused_naming_the_setting(value: str):
    with pytest.raises(ConfigError, match="SIGNAL_MAX_CLOCK_SKEW_HOURS"):
        load_settings({"SIGNAL_MAX_CLOCK_SKEW_HOURS": value})


def test_keys_are_encrypted_masked_and_redacted():
    token = encrypt_key(KEY, NEW)
    assert KEY not in token and decrypt_key(token, NEW) == KEY
    with pytest.raises(ConfigError, match="does not decrypt"):
        decrypt_key(token, OLD)
    assert mask_key(KEY) == "SG.…nopq"
    assert KEY not in redact(f"Bearer {KEY} failed")


def test_no_repr_shows_a_key():
    from workers.integrations.install import InstallRequest
    from workers.sendgrid.client import SendGridClient

    assert KEY not in repr(InstallRequest(api_key=KEY, default_list_id="list-1"))
    assert KEY not in repr(SendGridClient("https://api.sendgrid.com", KEY))
    assert "list-1" in repr(InstallRequest(api_key=KEY, default_list_id="list-1"))
