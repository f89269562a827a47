"""The console served for real and a real browser driving it.

- `console_server`: `signal-sendgrid api` as a subprocess on a free port, with `service_env` (PostgreSQL of this
  test run, RabbitMQ, the sandbox as SendGrid) and an admin token; `.url`, `.token`, `.sandbox`, `.env`.
- `console_http`: a `requests.Session` signed in to it (CSRF token at hand: `.csrf(path)`).
- `browser`: Selenium on Debian's /usr/bin/chromium and /usr/bin/chromedriver, headless; one browser per test run,
  its cookies cleared for each test. Skipped with a reason where chromium is absent; a failure under CI=true.
- `signed_in`: the browser signed in to `console_server`; `screenshot(name)` saves <name>.png in a temporary
  folder, or in docs/console/ (the documentation's pictures) when SIGNAL_SCREENSHOTS=1 asks for them.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.fixtures.processes import BIN, ROOT, free_port

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


@pytest.fixture
def console_server(service_env: dict[str, str], sandbox, db, tmp_path: Path) -> Iterator[ConsoleServer]:
    """`signal-sendgrid api --port N` on this test run's database (emptied first: `service_env` makes `db` the
    committed one)."""
    service_env["SIGNAL_ADMIN_TOKEN"] = TOKEN
    port = free_port()
    log = tmp_path / "api.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(BIN / "signal-sendgrid"), "api", "--port", str(port)],
            env=service_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    server = ConsoleServer(f"http://127.0.0.1:{port}", TOKEN, sandbox, service_env, process, log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"signal-sendgrid api exited with {process.returncode}:\n{server.log_text()[-3000:]}")
        try:
            requests.get(server.url + "/login", timeout=2)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"signal-sendgrid api did not answer within 30 s:\n{server.log_text()[-3000:]}")
            time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    print(server.log_text()[-4000:])  # shown by pytest when the test failed


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


@pytest.fixture
def console_http(console_server: ConsoleServer) -> Iterator[ConsoleHttp]:
    http = ConsoleHttp(console_server)
    answer = http.sign_in()
    assert answer.status_code == 302, answer.text
    yield http
    http.close()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the test run (Debian's packages; never a browser download)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"{' and '.join(missing)} not found: apt-get install chromium chromium-driver to run browser tests"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " [CI=true: browser tests are required]")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """The test run's browser with no cookies left from an earlier test (cookies do not tell ports apart)."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.set_window_size(1280, 900)
    return chromium


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


@pytest.fixture
def signed_in(browser, console_server: ConsoleServer):
    """The browser on the console's Overview, signed in through the login form."""
    from selenium.webdriver.common.by import By

    browser.get(console_server.url + "/login")
    browser.find_element(By.NAME, "token").send_keys(console_server.token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(lambda: browser.current_url.rstrip("/") == console_server.url, what="the Overview after sign-in")
    return browser


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/console/ with SIGNAL_SCREENSHOTS=1, else a temporary folder (a test run
    leaves the tracked pictures alone)."""
    if os.environ.get("SIGNAL_SCREENSHOTS") == "1":
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def screenshot(browser, screenshots: Path) -> Callable[[str], Path]:
    """`screenshot("integration")` saves the whole page to integration.png in `screenshots`."""

    def take(name: str) -> Path:
        screenshots.mkdir(parents=True, exist_ok=True)
        size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 4000), "scale": 1}
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
        path = screenshots / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    return take
