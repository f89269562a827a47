"""Configuration from the environment, with embedded defaults that need no services.

Every setting is read once per process through `load_settings()`; the names are public interface.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
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


def _fernet_keys(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    return check_fernet_keys(name, env.get(name) or default)


def _token(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name) or default
    if value is not None and len(value) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{name} must be at least {MIN_TOKEN_LENGTH} characters (it has {len(value)}): "
            f"generate one with `{GENERATE_TOKEN}`"
        )
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
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


def _hours(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    try:
        return timedelta(hours=_number(env, name, default / timedelta(hours=1)))
    except (OverflowError, ValueError):  # inf, nan, or beyond timedelta's 999,999,999 days
        raise ConfigError(f"{name} must be a number of hours below 2.4e10, got {env.get(name)!r}") from None


def _days(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    return timedelta(days=_number(env, name, default / timedelta(days=1)))


def _count(env: Mapping[str, str], name: str, default: int = 0, least: int = 0) -> int:
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


def _setting(default: Any, env: str, read: Callable[[Mapping[str, str], str, Any], Any]) -> Any:
    """A field whose default is written here once: `read(environ, env, default)` gives its value, the default
    when the variable is unset or empty."""
    return field(default=default, metadata={"env": env, "read": read})


def _database_url(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    url = env.get(name) or default
    return None if url is None else _check_url(name, _with_driver(url), ("postgresql",))


def _url(*schemes: str, base: bool = False) -> Callable[[Mapping[str, str], str, str], str]:
    """A URL with one of these schemes; a `base` URL (paths are appended to it) without its trailing slash."""

    def read(env: Mapping[str, str], name: str, default: str) -> str:
        url = env.get(name) or default
        return _check_url(name, url.rstrip("/") if base else url, schemes)

    return read


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    return Path(env.get(name) or default)


@dataclass(frozen=True)
class Settings:
    """Every setting with its environment variable and its default, written once; `load_settings()` reads them."""

    # None: the embedded PostgreSQL server in `home` (models.db.database_url)
    database_url: str | None = _setting(None, "DATABASE_URL", _database_url)
    broker_url: str = _setting("memory://", "BROKER_URL", _url("amqp", "amqps", "pyamqp", "memory"))
    sendgrid_api_url: str = _setting(SENDGRID_API_US, "SENDGRID_API_URL", _url("http", "https", base=True))
    # Fernet keys, comma-separated, newest first (checked here)
    secret_key: str | None = _setting(None, "SIGNAL_SECRET_KEY", _fernet_keys)
    admin_token: str | None = _setting(None, "SIGNAL_ADMIN_TOKEN", _token)
    # The embedded server's data and the key file that goes with it
    home: Path = _setting(Path(DEFAULT_HOME), "SIGNAL_HOME", _path)
    # SendGrid outages back off from retry_base_seconds to at most retry_cap_seconds, with full jitter; after
    # retry_window (hours) their deliveries are failed
    retry_base_seconds: float = _setting(2.0, "SIGNAL_RETRY_BASE_SECONDS", _number)
    retry_cap_seconds: float = _setting(600.0, "SIGNAL_RETRY_CAP_SECONDS", _number)
    retry_window: timedelta = _setting(timedelta(hours=24), "SIGNAL_RETRY_WINDOW_HOURS", _hours)
    # How long events wait for an identify
    hold_window: timedelta = _setting(timedelta(hours=24 * 7), "SIGNAL_HOLD_WINDOW_HOURS", _hours)
    # A timestamp later than its arrival by more than this takes its arrival as its time
    max_clock_skew: timedelta = _setting(timedelta(hours=24), "SIGNAL_MAX_CLOCK_SKEW_HOURS", _hours)
    # Then payloads, patches, error texts go
    retention: timedelta = _setting(timedelta(days=30), "SIGNAL_RETENTION_DAYS", _days)
    # Reverse proxies in front of `api` whose X-Forwarded-* to trust
    trusted_proxies: int = _setting(0, "SIGNAL_TRUSTED_PROXIES", _count)
    ingest_token: str | None = _setting(None, "SIGNAL_INGEST_TOKEN", _token)  # allows POST /v1/events only
    # When set, /metrics requires it (or the admin token)
    metrics_token: str | None = _setting(None, "SIGNAL_METRICS_TOKEN", _token)
    # A request not read in full by then is closed
    api_read_deadline: float = _setting(10.0, "SIGNAL_API_READ_DEADLINE_SECONDS", _number)
    # Open connections of one client
    api_connections_per_client: int = _setting(50, "SIGNAL_API_CONNECTIONS_PER_CLIENT", partial(_count, least=1))

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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        **{item.name: item.metadata["read"](env, item.metadata["env"], item.default) for item in fields(Settings)}
    )
