"""The console in a real Chromium: sign in, the Integration Library, installing SendGrid against the sandbox (a
bad key's advice, the duplicate warning), the integration's page, pause/resume and delete. Each page's screenshot
goes to docs/console/ (docs/console.md shows them) when SIGNAL_SCREENSHOTS=1 asks, else to a temporary folder."""

from __future__ import annotations

import os

from selenium.webdriver.common.by import By

from tests.helpers.console import SCREENSHOTS, click_and_wait, wait_until


def test_screenshots_go_to_the_docs_only_when_asked(screenshots):
    asked = os.environ.get("SIGNAL_SCREENSHOTS") == "1"
    assert (screenshots.resolve() == SCREENSHOTS.resolve()) is asked


def test_sign_in_and_out(browser, console_server, screenshot):
    browser.get(console_server.url + "/integrations")
    assert "/login?next=/integrations" in browser.current_url
    browser.find_element(By.NAME, "token").send_keys("not-the-token")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert "Sign-in refused" in browser.find_element(By.ID, "signin-error").text
    screenshot("login")
    browser.find_element(By.NAME, "token").send_keys(console_server.token)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_until(lambda: browser.current_url.endswith("/integrations"), what="the page asked for before sign-in")
    browser.find_element(By.CSS_SELECTOR, ".signout button").click()
    wait_until(lambda: "/login" in browser.current_url, what="the login page after sign-out")
    browser.get(console_server.url + "/")
    assert "/login" in browser.current_url


def fill(browser, name: str, value: str) -> None:
    element = browser.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def click(browser, element_id: str) -> None:
    click_and_wait(browser, (By.ID, element_id))


def test_install_from_the_library_and_manage_the_integration(signed_in, console_server, screenshot):
    browser, sandbox = signed_in, console_server.sandbox
    browser.find_element(By.LINK_TEXT, "Integrations").click()
    assert "No integration is installed yet" in browser.page_source
    browser.find_element(By.LINK_TEXT, "Integration Library").click()
    card = browser.find_element(By.ID, "library-sendgrid")
    category = browser.find_element(By.ID, "category-marketing-automation").text
    assert category.lower() == "marketing automation"
    assert "alpha" in card.text and "marketing automation suite" in card.text
    screenshot("integration-library")
    click(browser, "install-sendgrid")

    # A bad key: refused, with the product page's advice next to the key field; the key is not in the page.
    fill(browser, "api_key", "SG.not-a-real-key.0123456789abcdef")
    click(browser, "install")
    error = browser.find_element(By.ID, "error-api_key").text
    assert "401" in error and "Settings > API Keys" in error and "Marketing read/write" in error
    assert "SG.not-a-real-key.0123456789abcdef" not in browser.page_source
    screenshot("install-bad-key")

    # Check the key, choose the account's list, map a trait, install.
    fill(browser, "api_key", sandbox.key)
    click(browser, "check-key")
    assert browser.find_element(By.ID, "key-checked")
    options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#default_list_id option")]
    assert sandbox.list_id in options
    browser.find_element(By.CSS_SELECTOR, f"#default_list_id option[value='{sandbox.list_id}']").click()
    fill(browser, "fields", "plan = plan_name")
    assert sandbox.key not in browser.page_source
    screenshot("install")
    click(browser, "install")
    wait_until(lambda: "/integrations/" in browser.current_url and "installed=1" in browser.current_url)
    assert browser.find_element(By.ID, "status").text == "active"
    assert browser.find_element(By.ID, "masked-key").text.endswith(sandbox.key[-4:])
    mapping = browser.find_element(By.ID, "field-mapping").text
    assert "plan_name" in mapping and "not resolved" not in mapping
    requests_table = browser.find_element(By.ID, "latest-requests").text
    assert "GET /v3/scopes" in requests_table and "200" in requests_table
    assert sandbox.key not in browser.page_source
    screenshot("integration")
    first_page = browser.current_url.split("?")[0]

    # The same account and list again: a warning naming the first, and a second only after confirming.
    browser.get(console_server.url + "/integrations/install/sendgrid")
    fill(browser, "api_key", sandbox.key)
    fill(browser, "default_list_id", sandbox.list_id)
    click(browser, "install")
    warning = browser.find_element(By.ID, "duplicate-warning").text
    assert "already delivers to list" in warning and sandbox.list_id in warning
    screenshot("install-duplicate")
    click(browser, "install-anyway")
    wait_until(lambda: "installed=1" in browser.current_url, what="the second integration's page")
    second_page = browser.current_url.split("?")[0]
    assert second_page != first_page

    # Pause and resume the first.
    browser.get(first_page)
    click(browser, "pause")
    assert browser.find_element(By.ID, "status").text == "disabled"
    assert "resume it below" in browser.find_element(By.ID, "status-reason").text
    click(browser, "resume")
    assert browser.find_element(By.ID, "status").text == "active"

    # Change its list: the account's lists offered; the second integration's list is refused as a duplicate.
    click(browser, "show-lists")
    browser.find_element(By.CSS_SELECTOR, f"#default_list_id option[value='{sandbox.list_id}']").click()
    click(browser, "change-list")
    assert "already delivers to list" in browser.find_element(By.ID, "error-default_list_id").text
    fill(browser, "default_list_id", "")
    click(browser, "change-list")
    assert "The default list is now none." in browser.find_element(By.TAG_NAME, "main").text

    # Update the key: a rejected one is refused with the advice (and not shown); a working one is stored.
    fill(browser, "api_key", "SG.revoked-key.0123456789abcdef")
    click(browser, "update-key")
    assert "Marketing read/write" in browser.find_element(By.ID, "error-api_key").text
    assert "SG.revoked-key.0123456789abcdef" not in browser.page_source
    fill(browser, "api_key", sandbox.key)
    click(browser, "update-key")
    assert "The new key works and is stored" in browser.find_element(By.TAG_NAME, "main").text

    # Delete the second: the confirmation says what is kept.
    browser.get(second_page)
    click(browser, "delete")
    assert "every event" in browser.find_element(By.ID, "delete-kept").text
    screenshot("delete")
    click(browser, "confirm-delete")
    wait_until(lambda: browser.current_url.endswith("/integrations"), what="the integrations list")
    assert "deleted with its" in browser.page_source
    rows = browser.find_elements(By.CSS_SELECTOR, "#installed tbody tr")
    assert len(rows) == 1
    screenshot("integrations")


def test_overview(signed_in, console_server, db, screenshot):
    from tests.console.test_overview import seed

    seed(db)
    signed_in.get(console_server.url + "/")
    assert "1 · 3 · 1" in signed_in.find_element(By.ID, "backlog").text
    assert len(signed_in.find_elements(By.CSS_SELECTOR, "svg.chart rect")) > 5
    screenshot("overview")


def test_api_docs(browser, console_server, screenshot):
    browser.get(console_server.url + "/docs")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"), what="Swagger UI's operations")
    assert not browser.find_element(By.ID, "docs-fallback").is_displayed()
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/admin/integration-catalog/sendgrid/install" in paths and "/v1/events" in paths
    screenshot("docs")
    install = browser.find_element(By.ID, "operations-admin-post_v1_admin_integration_catalog_sendgrid_install")
    install.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    description = wait_until(lambda: install.find_elements(By.CSS_SELECTOR, ".opblock-description code"))
    assert "errors.existing_id" in [code.text for code in description]  # Markdown rendered, no backticks
    assert "`" not in install.text
