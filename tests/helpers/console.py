"""Helpers of the console tests: the app in-process, a signed-in client, the served console's handle, browser waits."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.fixtures.processes import ROOT

TOKEN = "console-test-admin-token-0123456789abcdef"


def console_app(db, pg_url: str, **env: str):
    """The web app (workers/web.py: the API and the console) on this run's database (no broker: memory://);
    `env` adds settings."""
    from config.settings import load_settings
    from tests.fixtures.services import TEST_SECRET
    from workers.web import create_app

    base = {"DATABASE_URL": pg_url, "SIGNAL_SECRET_KEY": TEST_SECRET, "SIGNAL_ADMIN_TOKEN": TOKEN}
    return create_app(load_settings({**base, "BROKER_URL": "memory://", **env}), sessions=db)


def signed_in_client(app):
    """A test client of `app` signed in through /login (its session id is in console_sessions)."""
    client = app.test_client()
    csrf = CSRF_FIELD.search(client.get("/login").text).group(1)
    answer = client.post("/login", data={"token": TOKEN, "csrf_token": csrf})
    assert answer.status_code == 302, answer.text
    return client


CHROMIUM = os.environ.get("TEST_CHROMIUM", "/usr/bin/chromium")


CHROMEDRIVER = os.environ.get("TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


SCREENSHOTS = ROOT / "docs" / "console"  # written only when asked: SIGNAL_SCREENSHOTS=1


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleServer:
    url: str
    token: str
    sandbox: object  # tests.fixtures.sandbox.SandboxHandle
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class ConsoleHttp(requests.Session):
    """A plain HTTP client of the console; `sign_in()` and `csrf(path)` do what a browser's form would."""

    def __init__(self, server: ConsoleServer) -> None:
        super().__init__()
        self.server = server

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001 - requests' signature
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, self.server.url + url if url.startswith("/") else url, *args, **kwargs)

    def get(self, url, **kwargs):  # noqa: ANN001 - requests' signature
        """Redirects are answers to look at, not to follow (`allow_redirects=True` to follow them)."""
        kwargs.setdefault("allow_redirects", False)
        return super().get(url, **kwargs)

    def csrf(self, path: str = "/login") -> str:
        page = self.get(path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"no csrf_token field on {path} ({page.status_code})"
        return match.group(1)

    def sign_in(self, token: str | None = None) -> requests.Response:
        answer = self.post("/login", data={"token": token or self.server.token, "csrf_token": self.csrf("/login")})
        return answer


def wait_until(condition: Callable[[], object], timeout: float = 10, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.1)


def _replaced(error: Exception) -> bool:
    """Whether a WebDriver error says the node is gone from the page: Selenium's stale element, or Chromium's
    "Node with given id does not belong to the document", which Selenium does not map to it."""
    from selenium.common.exceptions import StaleElementReferenceException

    return isinstance(error, StaleElementReferenceException) or "does not belong to the document" in str(error)


def gone(node) -> bool:
    """Whether `node` has left the page (its document was replaced): staleness_of, with Chromium's wording."""
    from selenium.common.exceptions import WebDriverException

    try:
        node.is_enabled()
    except WebDriverException as e:
        if _replaced(e):
            return True
        raise
    return False


def click_and_wait(browser, element) -> None:
    """Click (a submit button, a link) and wait for the page it loads: a click returns before that page.

    `element` is a WebElement, or a locator such as `(By.ID, "pause")`, which is looked up again if Chromium
    replaced the node under the click."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    for attempt in range(6):
        page = browser.find_element(By.TAG_NAME, "html")
        try:
            (browser.find_element(*element) if isinstance(element, tuple) else element).click()
            break
        except WebDriverException as e:
            if _replaced(e) and gone(page):
                break  # the click went through: its page is replacing this one
            if not (_replaced(e) and isinstance(element, tuple)) or attempt == 5:
                raise
            WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")
            time.sleep(0.2 * (attempt + 1))
    WebDriverWait(browser, 15).until(lambda _: gone(page))
