"""The install form's refusals, each next to its field with the product page's advice, over real HTTP against
the sandbox; and the mapping lines it reads."""

from __future__ import annotations

import html
import re

from workers.console.install_form import parse_mappings

FORM = "/integrations/install/sendgrid"


def error_of(page: str, field: str) -> str:
    match = re.search(rf'id="error-{field}">(.*?)</span>', page, re.S)
    assert match, f"no error next to {field}"
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def test_each_refusal_is_shown_next_to_its_field_with_advice(console_http, console_server):
    sandbox = console_server.sandbox
    base = {"csrf_token": console_http.csrf(FORM), "api_key": sandbox.key, "action": "install"}

    unknown_list = console_http.post(FORM, data={**base, "default_list_id": "00000000-0000-4000-8000-000000000000"})
    assert unknown_list.status_code == 400
    assert "does not exist in this SendGrid account" in error_of(unknown_list.text, "default_list_id")
    assert "Marketing > Contacts > Lists" in error_of(unknown_list.text, "default_list_id")

    bad_mapping = console_http.post(FORM, data={**base, "fields": "plan = plan name with spaces\nnot a mapping"})
    assert bad_mapping.status_code == 400
    advice = error_of(bad_mapping.text, "fields")
    assert "line 2: write trait = custom_field_name" in advice
    assert "confirm the custom field IDs in Marketing > Contacts > Custom Fields" in advice

    bad_name = console_http.post(FORM, data={**base, "fields": "plan = plan name with spaces"})
    assert bad_name.status_code == 400
    assert "plan name with spaces" in error_of(bad_name.text, "fields")

    no_key = console_http.post(FORM, data={**base, "api_key": ""})
    assert no_key.status_code == 400 and "the API key is required" in error_of(no_key.text, "api_key")

    # The list checked at "Check key" is carried with the key (encrypted) into the install.
    checked = console_http.post(FORM, data={**base, "action": "check"})
    token = re.search(r'name="key_token" value="([^"]+)"', checked.text).group(1)
    assert sandbox.key not in token
    installed = console_http.post(
        FORM, data={**base, "api_key": "", "key_token": token, "default_list_id": sandbox.list_id, "name": "Shop"}
    )
    assert installed.status_code == 302 and "/integrations/1?installed=1" in installed.headers["Location"]


def test_mapping_lines():
    assert parse_mappings("plan = plan_name\n\n# a comment\n company=company ") == (
        {"plan": "plan_name", "company": "company"},
        [],
    )
    assert parse_mappings("plan\n= x\nok = fine") == (
        {"ok": "fine"},
        ["line 1: write trait = custom_field_name", "line 2: write trait = custom_field_name"],
    )
