"""Live Events and Replay in a real Chromium, on the real pipeline (RabbitMQ, ingest, the Celery worker, the
sandbox as SendGrid): events published reach Live Events with 202 while the page refreshes itself; filters and
search; an event's detail; deliveries failed by a SendGrid outage (a sandbox fault) replayed from the console, one
with its row's button and one from the Replay page, then succeed. Screenshots go to docs/console/ when
SIGNAL_SCREENSHOTS=1 asks, else to a temporary folder."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.factories import event, identify
from tests.fixtures.processes import cli
from tests.helpers.console import click_and_wait, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def publish(env: dict[str, str], events: list[dict]) -> None:
    done = cli(env, "publish", "-", input="\n".join(json.dumps(e) for e in events))
    assert done.returncode == 0, done.stderr


def rows(browser, css: str = "") -> list[str]:
    """The message ids of the table's rows (read in one go: the refresh may replace the rows at any time)."""
    script = (
        f"return [...document.querySelectorAll('#live-rows tr{css}')].map(r => r.cells[2] && r.cells[2].textContent)"
    )
    return [m for m in browser.execute_script(script) if m]


def named(message_id: str, body: dict) -> dict:
    return {**body, "messageId": message_id}


def test_events_reach_live_events_fail_in_an_outage_and_are_replayed(signed_in, console_server, processes, screenshot):
    browser, sandbox, url = signed_in, console_server.sandbox, console_server.url
    env = {**console_server.env, "SIGNAL_RETRY_WINDOW_HOURS": "0.0005"}  # ~2 s: an outage outlasts the window
    processes.env = env
    assert cli(env, "install", "--api-key", sandbox.key, "--default-list-id", sandbox.list_id).returncode == 0
    browser.get(url + "/live-events")
    assert "No events match" in browser.page_source
    publish(env, [
        named("live-ann", identify("ann@example.com", "u-ann", 0, first_name="Ann")),
        named("live-page", event("page", 1, userId="u-ann", name="Pricing", properties={"url": "https://x.test/p"})),
        named("live-bob", identify("bob@example.org", "u-bob", 2)),
        named("live-order", event("track", 3, userId="u-bob", event="Order Completed",
                                  properties={"order_id": "o-1", "revenue": "19.90"})),
    ])  # fmt: skip
    processes.ingest()
    processes.worker()

    # The page refreshes itself: no reload, and the four events arrive and settle with SendGrid's 202.
    wait_until(lambda: len(rows(browser, ".row-succeeded")) == 4, timeout=90, what="4 succeeded rows")
    assert browser.find_element(By.ID, "live-indicator").is_displayed()
    codes = browser.execute_script(
        "return [...document.querySelectorAll('#live-rows tr')].map(r => r.cells[6].textContent)"
    )
    assert codes == ["202"] * 4

    # Filters and search.
    Select(browser.find_element(By.ID, "f-type")).select_by_value("identify")
    click_and_wait(browser, browser.find_element(By.ID, "apply-filters"))
    assert rows(browser) == ["live-bob", "live-ann"] and "type=identify" in browser.current_url
    browser.get(url + "/live-events")
    browser.find_element(By.ID, "f-q").send_keys("ANN@")
    click_and_wait(browser, browser.find_element(By.ID, "apply-filters"))
    assert rows(browser) == ["live-page", "live-ann"]

    # A row opens the event: its raw body, the decision, the request SendGrid got (key redacted), the import job.
    ann = browser.find_element(By.XPATH, "//tr[td[normalize-space()='live-ann']]/td[4]")
    click_and_wait(browser, ann)
    assert "/live-events/" in browser.current_url and "#delivery-" in browser.current_url
    page = browser.page_source
    assert "live-ann" in browser.find_element(By.ID, "raw-event").text
    assert "PUT " + sandbox.url + "/v3/marketing/contacts" in page and "Authorization: Bearer SG.…" in page
    assert sandbox.key not in page and '"status": 202' in page
    assert "succeeded" in browser.find_element(By.CSS_SELECTOR, ".import-job").text
    screenshot("event_detail")

    # An outage: every upsert answers 503 until the retry window is over, and two deliveries fail.
    sandbox.set_faults(error_rate=1, error_status=503, paths=["/v3/marketing/contacts"])
    publish(env, [named("live-fail-1", identify("cy@example.com", "u-cy", 4, first_name="Cy")),
                  named("live-fail-2", identify("di@example.com", "u-di", 5, first_name="Di"))])  # fmt: skip
    browser.get(url + "/live-events")
    wait_until(lambda: len(rows(browser, ".row-failed")) == 2, timeout=60, what="2 failed rows")
    browser.refresh()  # the page as it stands: new rows on top, the failed ones with their Replay button
    screenshot("live_events")
    sandbox.clear_faults()

    # One is replayed with its row's button...
    button = browser.find_element(By.XPATH, "//tr[td[normalize-space()='live-fail-1']]//button")
    click_and_wait(browser, button)
    assert "re-queued" in browser.find_element(By.CSS_SELECTOR, "p.notice").text

    # ... the other from the Replay page: a dry run counts it, the confirmation re-queues it.
    browser.find_element(By.LINK_TEXT, "Replay").click()
    wait_until(lambda: browser.find_elements(By.ID, "matched-count"), what="the dry run")
    assert browser.find_element(By.ID, "matched-count").text == "1"
    screenshot("replay")
    click_and_wait(browser, browser.find_element(By.ID, "confirm-replay"))
    assert "Matched 1 delivery, re-queued 1." in browser.find_element(By.ID, "replay-result").text

    browser.get(url + "/live-events")
    wait_until(lambda: {"live-fail-1", "live-fail-2"} <= set(rows(browser, ".row-succeeded")), timeout=60,
               what="the replayed deliveries succeeded")  # fmt: skip
    assert rows(browser, ".row-failed") == []
    assert sandbox.contact("cy@example.com")["first_name"] == "Cy"
    assert sandbox.contact("di@example.com")["first_name"] == "Di"
