"""The console's security over real HTTP (`signal-sendgrid api`): every page needs a session, every POST a CSRF
token, no page shows an API key, a refused sign-in does not say why, and the JSON API stays on bearer auth.
Signing out revokes the session server-side (a copied cookie stops working), and a `next=` with a control
character falls back to the Overview. The cookie flags, the expiry and the redirect target are checked in-process
(Flask's test client)."""

from __future__ import annotations

import hashlib
import re
import time

import psycopg
import pytest
from sqlalchemy import select
from werkzeug.routing import Map

from config.settings import load_settings
from models import ConsoleSession
from tests.fixtures.services import TEST_SECRET
from tests.helpers.console import TOKEN, ConsoleHttp, console_app, signed_in_client
from workers.console.auth import PUBLIC_ENDPOINTS, REFUSED, SESSION_HOURS
from workers.web import create_app

INSTALL = "/v1/admin/integration-catalog/sendgrid/install"


def console_rules(url_map: Map, method: str) -> list[str]:
    """Every console route answering `method`, its path with 1 for each parameter (the public ones, login, assets
    and /docs, excepted)."""
    paths = []
    for rule in url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        if method in (rule.methods or ()):
            paths.append(re.sub(r"<[^>]+>", "1", rule.rule))
    return sorted(set(paths))


@pytest.fixture
def app(db, pg_url):
    return console_app(db, pg_url)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_every_page_redirects_to_login_without_a_session(console_server, app):
    pages = console_rules(app.url_map, "GET")
    assert {"/", "/integrations", "/integrations/library", "/integrations/install/sendgrid"} <= set(pages)
    http = ConsoleHttp(console_server)
    for path in pages:
        answer = http.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"] == f"/login?next={path}", path
    for path in console_rules(app.url_map, "POST"):  # and no form does anything without one
        answer = http.post(path, data={"csrf_token": http.csrf("/login")})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path


def test_a_post_without_the_csrf_token_is_refused(console_http, app):
    for path in console_rules(app.url_map, "POST"):
        answer = console_http.post(path, data={"name": "x", "api_key": "SG.x", "token": TOKEN})
        assert answer.status_code == 400, path
        assert "did not come from this console" in answer.text, path
    forged = console_http.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert console_http.get("/").status_code == 200  # still signed in: nothing was done


def test_the_api_key_appears_in_no_page(console_http, console_server, app):
    sandbox = console_server.sandbox
    body = {"name": "SendGrid", "config": {"api_key": sandbox.key, "default_list_id": sandbox.list_id}}
    installed = console_http.post(INSTALL, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert installed.status_code == 201, installed.text
    integration_id = installed.json()["id"]
    for path in console_rules(app.url_map, "GET"):
        of_integration = path.startswith("/integrations/1")
        answer = console_http.get(path.replace("/integrations/1", f"/integrations/{integration_id}"))
        # Other pages of one record (an event's) have none to show here: their 404 page is checked too.
        expected = 200 if of_integration or "/1" not in path else 404
        assert answer.status_code == expected, (path, answer.status_code)
        assert sandbox.key not in answer.text, path
    form = {"csrf_token": console_http.csrf("/integrations/install/sendgrid"), "api_key": sandbox.key}
    checked = console_http.post("/integrations/install/sendgrid", data={**form, "action": "check"})
    duplicate = console_http.post(
        "/integrations/install/sendgrid", data={**form, "action": "install", "default_list_id": sandbox.list_id}
    )
    assert checked.status_code == 200 and duplicate.status_code == 409
    rejected_key = "SG.rejected-by-sendgrid.0123456789"
    rejected = console_http.post("/integrations/install/sendgrid", data={**form, "api_key": rejected_key})
    new_key = console_http.post(f"/integrations/{integration_id}/key", data={**form, "api_key": rejected_key})
    assert rejected.status_code == 400 and new_key.status_code == 400
    for answer, key in (
        (checked, sandbox.key),
        (duplicate, sandbox.key),
        (rejected, rejected_key),
        (new_key, rejected_key),
    ):
        assert key not in answer.text
    assert "Marketing read/write" in rejected.text  # the seed's advice instead


def test_a_wrong_token_is_refused_without_saying_why(console_server):
    http = ConsoleHttp(console_server)
    pages = []
    for wrong in ("", "x", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "ä" * 40):
        answer = http.post("/login", data={"token": wrong, "csrf_token": http.csrf("/login")})
        assert answer.status_code == 401, wrong
        assert REFUSED in answer.text
        pages.append(CSRF_VALUE.sub("", answer.text))
    assert len(set(pages)) == 1  # one answer for every wrong token: nothing says which part was wrong
    assert http.get("/").status_code == 302
    assert http.sign_in().status_code == 302
    assert http.get("/").status_code == 200


CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')


def test_the_json_api_keeps_bearer_auth_and_needs_no_csrf(console_http, console_server):
    sandbox = console_server.sandbox
    assert console_http.get("/v1/admin/integrations").status_code == 401  # a console session is not API auth
    body = {"config": {"api_key": sandbox.key}}
    assert console_http.post(INSTALL, json=body).status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    installed = ConsoleHttp(console_server).post(INSTALL, json=body, headers=bearer)
    assert installed.status_code == 201, installed.text
    listed = ConsoleHttp(console_server).get("/v1/admin/integrations", headers=bearer)
    assert [i["id"] for i in listed.json()] == [installed.json()["id"]]


def test_session_cookie_flags_expiry_and_redirect_target(app):
    client = app.test_client()
    page = client.get("/login?next=//evil.example/")
    signed = client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text), "next": "//evil.example/"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert client.get("/").status_code == 200
    with client.session_transaction() as session:
        session["signed_in_at"] = int(time.time()) - SESSION_HOURS * 3600 - 1
    assert client.get("/").headers["Location"] == "/login?next=/"

    app.config["SESSION_COOKIE_SECURE"] = False
    tls = app.test_client().get("/login", base_url="https://console.example")
    assert "Secure" in tls.headers["Set-Cookie"]


def test_behind_a_trusted_proxy_the_cookie_is_secure(db, pg_url):
    env = {"DATABASE_URL": pg_url, "SIGNAL_SECRET_KEY": TEST_SECRET, "SIGNAL_ADMIN_TOKEN": TOKEN}
    proxied = create_app(load_settings({**env, "SIGNAL_TRUSTED_PROXIES": "1"}), sessions=db).test_client()
    direct = create_app(load_settings(env), sessions=db).test_client()
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Secure" in proxied.get("/login", headers=forwarded).headers["Set-Cookie"]
    assert "Secure" not in direct.get("/login", headers=forwarded).headers["Set-Cookie"]  # not trusted


def test_signing_out_revokes_the_session_for_a_copied_cookie_too(console_http, console_server, pg_url):
    thief = ConsoleHttp(console_server)
    thief.cookies.set("signal_console", console_http.cookies["signal_console"])
    assert thief.get("/").status_code == 200  # a copy works while the session lives
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM console_sessions").fetchone()
    signed_out = console_http.post("/logout", data={"csrf_token": console_http.csrf("/")})
    assert signed_out.status_code == 302 and signed_out.headers["Location"] == "/login"
    assert console_http.get("/").headers["Location"] == "/login?next=/"
    refused = thief.get("/integrations")
    assert refused.status_code == 302 and refused.headers["Location"] == "/login?next=/integrations"
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM console_sessions").fetchone() == (rows - 1,)
    assert console_http.sign_in().status_code == 302 and console_http.get("/").status_code == 200  # again
    assert thief.get("/").status_code == 302  # the new session is not the old cookie's


def test_the_session_id_is_kept_as_a_digest_only(app):
    client = signed_in_client(app)
    with client.session_transaction() as session:
        session_id = session["id"]
    with app.extensions["signal_sendgrid"].sessions() as db:
        digests = db.scalars(select(ConsoleSession.id_digest)).all()
    assert hashlib.sha256(session_id.encode()).hexdigest() in digests and session_id not in digests


CONTROL = ["/\r\nSet-Cookie: x=1", "/integrations\n", "/\r", "/\x00", "/a\tb", "/\x1b[31m", "/\x7f"]


def test_next_with_control_characters_falls_back_to_the_overview(console_server):
    http = ConsoleHttp(console_server)
    for target in CONTROL:
        page = http.get("/login", params={"next": target})
        assert page.status_code == 200 and 'name="next" value="/"' in page.text, repr(target)
        signed = http.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(page.text), "next": target})
        assert signed.status_code == 302 and signed.headers["Location"] == "/", repr(target)
        again = http.get("/login", params={"next": target})  # signed in: straight to the target
        assert again.status_code == 302 and again.headers["Location"] == "/", repr(target)
        http.post("/logout", data={"csrf_token": http.csrf("/")})
    assert "Traceback" not in console_server.log_text()
