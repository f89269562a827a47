"""What a failure to reach RabbitMQ, PostgreSQL or SendGrid looks like: one line naming the setting (password
hidden), for the commands that stop on it, and a warning at most every 30 s for the processes that retry.

`reason(error)` is the useful part of an exception in a few words ("Connection refused", "ACCESS_REFUSED - Login
was refused ...", 'database "x" does not exist'); the `*_error` functions make the ConfigError a command ends
with; `Throttle` keeps a retrying process from repeating itself.
"""

from __future__ import annotations

import logging
import re
import time

from config.settings import ConfigError, hide_password

LOG_EVERY_SECONDS = 30.0
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_FATAL = re.compile(r"FATAL:\s+(.+)")
_AMQP = re.compile(r"\(\d{3}\) ([A-Z_]+ - .+?)(?:\. For details.*)?$")


def reason(error: BaseException) -> str:
    """The cause in one short line: the OS error, the server's FATAL line, or the first line of the message."""
    text = str(getattr(error, "orig", None) or error).strip()
    for pattern in (_AMQP, _FATAL, _ERRNO):
        found = pattern.search(text)
        if found:
            return found.group(1).strip().rstrip(".")
    first = text.splitlines()[0] if text else type(error).__name__
    return first[:200]


def broker_error(url: str, error: BaseException) -> ConfigError:
    refused = getattr(error, "reply_code", None) or _AMQP.search(str(error))  # RabbitMQ answered: no
    what = "is refused by RabbitMQ" if refused else "is unreachable"
    return ConfigError(f"BROKER_URL {what} ({reason(error)}): {hide_password(url)}")


def database_error(url: str, error: BaseException) -> ConfigError:
    return ConfigError(f"DATABASE_URL is unusable ({reason(error)}): {hide_password(url)}")


def sendgrid_error(api_url: str, transport_error: str) -> str:
    return f"SendGrid at {api_url} is unreachable ({reason(Exception(transport_error))}): check SENDGRID_API_URL"


def broker_errors() -> tuple[type[BaseException], ...]:
    """What connecting to or talking with RabbitMQ raises (kombu wraps some, py-amqp raises others)."""
    import amqp
    from kombu.exceptions import KombuError

    return (KombuError, amqp.exceptions.AMQPError, OSError)


class Throttle:
    """Log a repeated warning at most once per `every` seconds (with how many were left out)."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY_SECONDS) -> None:
        self.logger = logger
        self.every = every
        self.last = float("-inf")
        self.quiet = 0

    def warning(self, message: str, *args: object) -> bool:
        now = time.monotonic()
        if now - self.last < self.every:
            self.quiet += 1
            return False
        left_out = f" ({self.quiet} more like it since the last)" if self.quiet else ""
        self.logger.warning(message + left_out, *args)
        self.last, self.quiet = now, 0
        return True

    def reset(self) -> None:
        self.last, self.quiet = float("-inf"), 0


class ThrottleFilter(logging.Filter):
    """A logging filter that lets records starting with one of `prefixes` through at most once every `every` s
    between them all (Celery's "Connection to broker lost" and then "Cannot connect to amqp://...: Trying again in
    2.00 seconds" every few seconds are one outage), joined into one line without a traceback, saying how many
    were left out since the last."""

    def __init__(self, prefixes: tuple[str, ...], every: float = LOG_EVERY_SECONDS) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.every = every
        self.last = float("-inf")
        self.quiet = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()  # Celery logs some as "%s (%r)" with the text in the arguments
        if not message.startswith(self.prefixes):
            return True
        now = time.monotonic()
        if now - self.last < self.every:
            self.quiet += 1
            return False
        left_out = f" ({self.quiet} more like it since the last)" if self.quiet else ""
        self.last, self.quiet = now, 0
        record.msg, record.args = " ".join(message.split()) + left_out, None
        record.exc_info, record.exc_text = None, None  # the message says what and where
        return True


def check_database(engine) -> None:  # noqa: ANN001 - a SQLAlchemy Engine
    """Raise ConfigError (one line) unless the database answers and its schema is this release's."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # "setup plugin ..." at import
    from alembic.script import ScriptDirectory
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from models.migrate import alembic_config

    url = engine.url.render_as_string(hide_password=False)
    try:
        with engine.connect() as connection:
            exists = connection.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            current = connection.scalar(text("SELECT version_num FROM alembic_version")) if exists else None
    except DBAPIError as e:
        raise database_error(url, e) from e
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if current and current != head and current not in {s.revision for s in scripts.walk_revisions()}:
        return  # a newer release migrated it (a rolling deploy): its migrations keep this release's tables
    if current != head:
        state = f"at revision {current}" if current else "not migrated"
        raise ConfigError(
            f"DATABASE_URL's schema is {state}, this release needs {head}: run `signal-sendgrid db upgrade` "
            f"({hide_password(url)})"
        )
