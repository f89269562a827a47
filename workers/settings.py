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
EMBEDDED_HOME = Path(os.environ.get("SIGNAL_HOME", ".signal-sendgrid"))


class ConfigError(Exception):
    """A setting that cannot be used; its message is one line a person can act on."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    sendgrid_api_url: str
    secret_key: str | None
    admin_token: str | None

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")


def hide_password(url: str) -> str:
    """The URL with its password replaced by ***, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
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
        raise ConfigError(
            f"{name} must start with one of {', '.join(s + '://' for s in schemes)}: {hide_password(url)}"
        )
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    database_url = env.get("DATABASE_URL") or f"sqlite:///{EMBEDDED_HOME / 'signal-sendgrid.db'}"
    if database_url.startswith("postgres://"):  # Heroku-style URLs name the dialect without the driver
        database_url = "postgresql://" + database_url[len("postgres://") :]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    broker_url = env.get("BROKER_URL") or "memory://"
    api_url = (env.get("SENDGRID_API_URL") or SENDGRID_API_US).rstrip("/")
    return Settings(
        database_url=_check_url("DATABASE_URL", database_url, ("sqlite", "postgresql")),
        broker_url=_check_url("BROKER_URL", broker_url, ("amqp", "amqps", "pyamqp", "memory")),
        sendgrid_api_url=_check_url("SENDGRID_API_URL", api_url, ("http", "https")),
        secret_key=env.get("SIGNAL_SECRET_KEY") or None,
        admin_token=env.get("SIGNAL_ADMIN_TOKEN") or None,
    )
