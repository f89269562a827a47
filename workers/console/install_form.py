"""Installing SendGrid from the console (`/integrations/install/sendgrid`): the form, its "check key" step that
offers the account's lists, and "Install Integration", which loads the form through the API's InstallSchema and
installs through workers.services.integrations, so the console checks exactly what the API and CLI check.

The API key is never sent back to the browser: after a check, or a refusal, the form carries it encrypted with
the server's SIGNAL_SECRET_KEY (`key_token`) so the operator does not type it twice; the page holds no key.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from marshmallow import ValidationError

from config.secrets import decrypt_key, encrypt_key, redact, secret_for
from config.settings import ConfigError
from workers.console.blueprint import console
from workers.services import integrations as service
from workers.services.install_body import InstallSchema, install_request
from workers.web_state import state, transaction

# The product page's troubleshooting advice, by the field it concerns.
ADVICE = {
    "api_key": "401 Unauthorized: invalid API key or missing scopes. Verify the key in Settings > API Keys and "
    "ensure Marketing read/write permissions are granted.",
    "default_list_id": "Find the List ID under Marketing > Contacts > Lists, or leave it empty.",
    "fields": "Custom field error: confirm the custom field IDs in Marketing > Contacts > Custom Fields.",
    "rate_limit": "429 Too Many Requests: SendGrid enforces per-account limits. Wait a minute and try again.",
}
FIELD_NAMES = ("name", "variant", "api_key", "default_list_id", "region", "fields")


def parse_mappings(text: str) -> tuple[dict[str, str], list[str]]:
    """`trait = custom_field` lines (blank lines and `#` comments ignored) into a dict; bad lines reported."""
    mappings, errors = {}, []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        trait, sep, field = (part.strip() for part in line.partition("="))
        if not sep or not trait or not field:
            errors.append(f"line {number}: write trait = custom_field_name")
        else:
            mappings[trait] = field
    return mappings, errors


def submitted_key() -> str:
    """The key typed in, or the one the form carries encrypted from the previous step."""
    typed = request.form.get("api_key", "").strip()
    if typed or not request.form.get("key_token"):
        return typed
    try:
        return decrypt_key(request.form["key_token"], secret_for(state().settings))
    except (ConfigError, ValueError, TypeError):
        return ""


def key_token(api_key: str) -> str:
    return encrypt_key(api_key, secret_for(state().settings)) if api_key else ""


def error_field(message: str) -> str:
    """Which form field an InstallError is about (its advice is shown next to that field)."""
    lowered = message.lower()
    if "api key" in lowered or "scopes" in lowered:
        return "api_key"
    if "list" in lowered and "field" not in lowered:
        return "default_list_id"
    if "429" in lowered or "rate limit" in lowered:
        return "rate_limit"
    if "field" in lowered or "mapping" in lowered:
        return "fields"
    return "form"


def render(values: dict, api_key: str = "", errors: dict | None = None, **extra):
    """The form again; a key SendGrid refused is not carried on (the operator types another)."""
    if errors and "api_key" in errors:
        api_key = ""
    return render_template(
        "console/install.html",
        values=values,
        key_token=key_token(api_key),
        errors=errors or {},
        advice=ADVICE,
        **extra,
    )


def form_values() -> dict:
    return {name: request.form.get(name, "").strip() for name in FIELD_NAMES if name != "api_key"}


@console.get("/integrations/install/sendgrid")
def install_form():
    return render({"name": "SendGrid", "variant": "default", "region": "us", "default_list_id": "", "fields": ""})


@console.post("/integrations/install/sendgrid")
def install_submit():
    values, api_key = form_values(), submitted_key()
    if request.form.get("action") == "check":
        return check_step(values, api_key)
    mappings, line_errors = parse_mappings(values["fields"])
    body = {
        "name": values["name"] or "SendGrid",
        "variant": values["variant"] or "default",
        "config": {
            "api_key": api_key,
            "default_list_id": values["default_list_id"] or None,
            "region": values["region"] or "us",
            "fields": mappings,
        },
        "force": request.form.get("force") == "1",
    }
    errors: dict[str, str] = {"fields": "; ".join(line_errors)} if line_errors else {}
    try:
        loaded = InstallSchema().load(body)
    except ValidationError as e:
        for name, message in flatten(e.messages).items():
            errors.setdefault(name, message)
    if not api_key:
        errors["api_key"] = "the API key is required"
    if errors:
        return render(values, api_key, errors), 400
    try:
        with transaction() as session:
            new_id = service.install(session, install_request(loaded), state().settings).integration["id"]
    except service.DuplicateIntegration as e:
        return render(values, api_key, duplicate_id=e.existing_id, duplicate_message=redact(str(e), api_key)), 409
    except service.InstallError as e:
        return render(values, api_key, {error_field(str(e)): str(e)}), 400
    return redirect(url_for("console.integration_page", integration_id=new_id, installed=1))


def check_step(values: dict, api_key: str):
    """Check the key's scopes and offer the account's lists in a choice."""
    if not api_key:
        return render(values, errors={"api_key": "enter the API key to check it"}), 400
    try:
        lists = service.check_key(api_key, values["region"], state().settings)
    except service.ListsUnreadable as e:
        return render(values, api_key, {"default_list_id": str(e)}), 400
    except service.InstallError as e:
        return render(values, api_key, {error_field(str(e)): str(e)}), 400
    return render(values, api_key, checked=True, lists=lists)


def flatten(messages: dict, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested error dict as form field -> one line (`config.api_key` is the `api_key` field)."""
    flat: dict[str, str] = {}
    for name, value in messages.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix=str(name)))
        else:
            field = str(name) if prefix in ("", "config") else prefix
            flat[field] = "; ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return flat
