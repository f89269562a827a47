"""Signing in to the console: the admin token into a signed session cookie, sign out, expiry, CSRF.

`init_app(app)` configures the session cookie (HttpOnly, SameSite=Strict, Secure on https: behind a proxy with
SIGNAL_TRUSTED_PROXIES set, ProxyFix tells), the Flask secret key (derived from the server's secrets, so a new
admin token signs everybody out) and Flask-WTF's CSRF protection for every form; the JSON API (blueprint
`admin`, named by the web root) is exempt and keeps its bearer token. Every console page needs a session younger
than SESSION_HOURS (absolute, from sign-in) whose random id is still in `console_sessions`
(workers/services/sessions.py): signing out deletes that row, so a copy of the cookie is worthless from then on.
Without one it redirects to /login?next=<the page>.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from config.settings import Settings
from workers.console.blueprint import console
from workers.services import sessions
from workers.web_state import state, transaction

SESSION_HOURS = 8
SESSION_LIFETIME = timedelta(hours=SESSION_HOURS)
PUBLIC_ENDPOINTS = {"console.login", "console.static"}
REFUSED = "Sign-in refused: that token is not accepted here."
# The console's pages and assets come from this server only; htmx or a little JS goes in static/ (no inline code).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

csrf = CSRFProtect()
log = logging.getLogger(__name__)


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over https (directly or, per ProxyFix, to the
    proxy), and always when SESSION_COOKIE_SECURE is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or (bool(request) and request.is_secure)


def session_secret(settings: Settings) -> bytes:
    """The Flask secret key: HMAC-SHA256 of the admin token under SIGNAL_SECRET_KEY; random (nobody can sign
    in) when no admin token is configured. Never a constant."""
    if not settings.admin_token:
        return secrets.token_bytes(32)
    key = (settings.secret_key or "signal-sendgrid").encode()
    return hmac.new(key, b"console-session\0" + settings.admin_token.encode(), hashlib.sha256).digest()


def init_app(app: Flask, exempt_from_csrf: Iterable[Blueprint] = ()) -> None:
    settings: Settings = app.extensions["signal_sendgrid"].settings
    app.config.update(
        SECRET_KEY=session_secret(settings),
        SESSION_COOKIE_NAME="signal_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session (at most SESSION_HOURS)
    )
    app.session_interface = ConsoleSessionInterface()
    proxies = settings.trusted_proxies
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    csrf.init_app(app)
    for blueprint in exempt_from_csrf:
        csrf.exempt(blueprint)
    app.register_error_handler(CSRFError, csrf_refused)


def csrf_refused(error: CSRFError):
    message = "This form expired or did not come from this console. Reload the page and try again."
    return render_template("console/error.html", title="Form refused", message=message), 400


def signed_in() -> bool:
    """A session younger than SESSION_HOURS whose id has not been signed out (looked up once per request)."""
    if "signed_in" not in g:
        started, session_id = session.get("signed_in_at"), session.get("id")
        fresh = isinstance(started, int | float) and 0 <= time.time() - started < SESSION_HOURS * 3600
        g.signed_in = fresh and isinstance(session_id, str) and active(session_id)
    return g.signed_in


def active(session_id: str) -> bool:
    with transaction() as db:
        return sessions.is_active(db, session_id)


def start_session() -> None:
    """A fresh session (and CSRF token) with a new random id in `console_sessions`."""
    with transaction() as db:
        session_id, now = sessions.open_session(db, SESSION_LIFETIME)
    session.clear()  # no fixation
    session.permanent = True
    session["signed_in_at"] = int(now.timestamp())
    session["id"] = session_id
    g.signed_in = True


def end_session() -> None:
    """Sign out here and for every copy of the cookie: the session's row goes."""
    session_id = session.get("id")
    if isinstance(session_id, str):
        with transaction() as db:
            sessions.revoke(db, session_id)
    session.clear()
    g.signed_in = False


def safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host, no `//`, no control character): never an open redirect,
    never a header a CR/LF could split."""
    if not target:
        return url_for("console.overview")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("console.overview")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return url_for("console.overview")
    return target


@console.before_request
def require_session():
    if request.endpoint in PUBLIC_ENDPOINTS or signed_in():
        return None
    session.pop("signed_in_at", None)
    session.pop("id", None)
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("console.login", next=target))


@console.after_request
def page_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "console.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@console.route("/login", methods=["GET", "POST"])
def login():
    configured = state().settings.admin_token
    target = safe_next(request.values.get("next"))
    if request.method == "GET":
        if signed_in():
            return redirect(target)
        return render_template("console/login.html", next=target, configured=bool(configured))
    given = request.form.get("token", "").strip().encode("utf-8", "surrogateescape")
    if not configured or not hmac.compare_digest(given, configured.encode()):
        log.warning("console sign-in refused from %s (a wrong admin token)", request.remote_addr)
        return render_template("console/login.html", next=target, configured=bool(configured), error=REFUSED), 401
    start_session()
    return redirect(target)


@console.post("/logout")
def logout():
    end_session()
    return redirect(url_for("console.login"))
