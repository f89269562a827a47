"""Configuration from the environment, with embedded defaults that need no services.

Every setting is read once per process through `load_settings()`; the names are public interface.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SENDGRID_API_US = "https://api.sendgrid.com"
SENDGRID_API_EU = "https://api.eu.sendgrid.com"
DEFAULT_HOME = ".signal-sendgrid"


class ConfigError(Exception):
    """A setting that cannot be used; its message is one line a person can act on."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None  # None: the embedded PostgreSQL server in `home` (models.db.database_url)
    broker_url: str
    sendgrid_api_url: str
    secret_key: str | None
    admin_token: str | None
    home: Path  # SIGNAL_HOME: the embedded server's data and the key file that goes with it

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None


def hide_password(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.password:  # none, or empty (the embedded server's `postgres:@`): nothing to hide
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


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
        secret_key=env.get("SIGNAL_SECRET_KEY") or None,
        admin_token=env.get("SIGNAL_ADMIN_TOKEN") or None,
        home=Path(env.get("SIGNAL_HOME") or DEFAULT_HOME),
    )


def _with_driver(url: str) -> str:
    """psycopg 3 for `postgresql://` URLs, and for Heroku-style `postgres://`, which name no driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
