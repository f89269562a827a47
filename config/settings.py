"""Configuration from the environment, with embedded defaults that need no services.

Every setting is read once per process through `load_settings()`; the names are public interface.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SENDGRID_API_US = "https://api.sendgrid.com"
SENDGRID_API_EU = "https://api.eu.sendgrid.com"
DEFAULT_HOME = ".signal-sendgrid"
MIN_TOKEN_LENGTH = 32
GENERATE_KEY = "signal-sendgrid generate-key"
GENERATE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 - a command
SECRET_FIELDS = ("secret_key", "admin_token", "ingest_token", "metrics_token")


class ConfigError(Exception):
    """A setting that cannot be used; its message is one line a person can act on."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None  # None: the embedded PostgreSQL server in `home` (models.db.database_url)
    broker_url: str
    sendgrid_api_url: str
    secret_key: str | None  # SIGNAL_SECRET_KEY: Fernet keys, comma-separated, newest first (checked here)
    admin_token: str | None
    home: Path  # SIGNAL_HOME: the embedded server's data and the key file that goes with it
    retry_base_seconds: float = 2.0  # SIGNAL_RETRY_BASE_SECONDS: SendGrid outages back off from this ...
    retry_cap_seconds: float = 600.0  # SIGNAL_RETRY_CAP_SECONDS: ... to at most this, with full jitter,
    retry_window: timedelta = timedelta(hours=24)  # SIGNAL_RETRY_WINDOW_HOURS: then deliveries are failed
    hold_window: timedelta = timedelta(hours=24 * 7)  # SIGNAL_HOLD_WINDOW_HOURS: how long events wait for an identify
    max_clock_skew: timedelta = timedelta(hours=24)  # SIGNAL_MAX_CLOCK_SKEW_HOURS: a later timestamp is its arrival
    retention: timedelta = timedelta(days=30)  # SIGNAL_RETENTION_DAYS: then payloads, patches, error texts go
    trusted_proxies: int = 0  # SIGNAL_TRUSTED_PROXIES: reverse proxies in front of `api` whose X-Forwarded-* to trust
    ingest_token: str | None = None  # SIGNAL_INGEST_TOKEN: allows POST /v1/events only
    metrics_token: str | None = None  # SIGNAL_METRICS_TOKEN: when set, /metrics requires it (or the admin token)
    api_read_deadline: float = 10.0  # SIGNAL_API_READ_DEADLINE_SECONDS: a request not read in full by then is closed
    api_connections_per_client: int = 50  # SIGNAL_API_CONNECTIONS_PER_CLIENT: open connections of one client

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    def __repr__(self) -> str:
        """Secrets never shown; URLs with their passwords hidden."""
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in SECRET_FIELDS:
                value = None if value is None else "***"
            elif item.name.endswith("_url") and value is not None:
                value = hide_password(value)
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"


_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/?#@]*:)(.*)@", re.IGNORECASE)


def hide_password(url: str) -> str:
    """The URL with its password replaced by ***, safe to print: SQLAlchemy's rendering for database URLs,
    kombu's sanitizer for broker URLs. Where those would still show part of a password (an unescaped `@`, `/`,
    `#` or `?` in it), everything between the user name and the last `@` is masked instead."""
    raw = _USERINFO.match(url)
    if raw and not raw.group(2):  # an empty password (the embedded server's `postgres:@`): nothing to hide
        return url
    try:
        if url.startswith("postgres"):
            shown = make_url(url).render_as_string(hide_password=True)
        else:
            shown = maybe_sanitize_url(url, mask="***")
    except (ArgumentError, ValueError):
        shown = None
    masked = _USERINFO.match(shown or "")
    if raw and (masked is None or masked.group(2) != "***"):  # the library split the user info elsewhere
        return _USERINFO.sub(r"\1***@", url)
    return shown or "<unparseable URL>"


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as e:
        raise ConfigError(f"{name} is malformed ({e}): {hide_password(url)}") from e
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in schemes:
        prefixes = ", ".join(s + "://" for s in schemes)
        expected = f"one of {prefixes}" if len(schemes) > 1 else prefixes
        raise ConfigError(f"{name} must start with {expected}: {hide_password(url)}")
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or None
    if database_url is not None:
        database_url = _check_url("DATABASE_URL", _with_driver(database_url), ("postgresql",))
    broker_url = env.get("BROKER_URL") or "memory://"
    api_url = (env.get("SENDGRID_API_URL") or SENDGRID_API_US).rstrip("/")
    return Settings(
        database_url=database_url,
        broker_url=_check_url("BROKER_URL", broker_url, ("amqp", "amqps", "pyamqp", "memory")),
        sendgrid_api_url=_check_url("SENDGRID_API_URL", api_url, ("http", "https")),
        secret_key=check_fernet_keys("SIGNAL_SECRET_KEY", env.get("SIGNAL_SECRET_KEY") or None),
        admin_token=_token(env, "SIGNAL_ADMIN_TOKEN"),
        ingest_token=_token(env, "SIGNAL_INGEST_TOKEN"),
        metrics_token=_token(env, "SIGNAL_METRICS_TOKEN"),
        home=Path(env.get("SIGNAL_HOME") or DEFAULT_HOME),
        retry_base_seconds=_number(env, "SIGNAL_RETRY_BASE_SECONDS", 2.0),
        retry_cap_seconds=_number(env, "SIGNAL_RETRY_CAP_SECONDS", 600.0),
        retry_window=timedelta(hours=_number(env, "SIGNAL_RETRY_WINDOW_HOURS", 24.0)),
        hold_window=timedelta(hours=_number(env, "SIGNAL_HOLD_WINDOW_HOURS", 24.0 * 7)),
        max_clock_skew=_hours(env, "SIGNAL_MAX_CLOCK_SKEW_HOURS", 24.0),
        retention=timedelta(days=_number(env, "SIGNAL_RETENTION_DAYS", 30.0)),
        trusted_proxies=_count(env, "SIGNAL_TRUSTED_PROXIES"),
        api_read_deadline=_number(env, "SIGNAL_API_READ_DEADLINE_SECONDS", 10.0),
        api_connections_per_client=_count(env, "SIGNAL_API_CONNECTIONS_PER_CLIENT", default=50, least=1),
    )


def check_fernet_keys(name: str, value: str | None) -> str | None:
    """Fernet keys separated by commas, newest first; anything else (a passphrase, an empty key file) is refused:
    a passphrase stretched with a fixed salt is cheap to guess, and an empty one encrypts with nothing."""
    if value is None:
        return None
    keys = [key.strip() for key in value.split(",")]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            which = f"key {position} of {len(keys)}" if len(keys) > 1 else "it"
            raise ConfigError(
                f"{name} must be Fernet keys separated by commas, newest first, and {which} is not one "
                f"(passphrases are not accepted): generate one with `{GENERATE_KEY}`"
            ) from None
    return ",".join(keys)


def _token(env, name: str) -> str | None:
    value = env.get(name) or None
    if value is not None and len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{name} must be at least {MIN_TOKEN_LENGTH} characters (it has {len(value)}): "
            f"generate one with `{GENERATE_TOKEN}`"
        )
    return value


def _number(env, name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds or hours, got {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value!r}")
    return number


def _hours(env, name: str, default: float) -> timedelta:
    try:
        return timedelta(hours=_number(env, name, default))
    except (OverflowError, ValueError):  # inf, nan, or beyond timedelta's 999,999,999 days
        raise ConfigError(f"{name} must be a number of hours below 2.4e10, got {env.get(name)!r}") from None


def _count(env, name: str, default: int = 0, least: int = 0) -> int:
    value = env.get(name) or str(default)
    if not value.isdigit() or int(value) < least:
        raise ConfigError(f"{name} must be a whole number ({least} or more), got {value!r}")
    return int(value)


def _with_driver(url: str) -> str:
    """psycopg 3 for `postgresql://` URLs, and for Heroku-style `postgres://`, which name no driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
