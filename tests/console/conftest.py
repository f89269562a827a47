"""The console served for real and a real browser driving it.

- `console_server`: `signal-sendgrid api` as a subprocess on a free port, with `service_env` (PostgreSQL of this
  test run, RabbitMQ, the sandbox as SendGrid) and an admin token; `.url`, `.token`, `.sandbox`, `.env`.
- `console_http`: a `requests.Session` signed in to it (CSRF token at hand: `.csrf(path)`).
- `browser`: Selenium on Debian's /usr/bin/chromium and /usr/bin/chromedriver, headless; one browser per test run,
  its cookies cleared for each test. Skipped with a reason where chromium is absent; a failure under CI=true.
- `signed_in`: the browser signed in to `console_server`; `screenshot(name)` saves <name>.png in a temporary
  folder, or in docs/console/ (the documentation's pictures) when SIGNAL_SCREENSHOTS=1 asks for them."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.fixtures.processes import BIN, ROOT, free_port
from tests.helpers.console import (
    CHROMEDRIVER,
    CHROMIUM,
    SCREENSHOTS,
    TOKEN,
    ConsoleHttp,
    ConsoleServer,
    wait_until,
)


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
