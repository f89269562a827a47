"""`/docs`: the admin API's OpenAPI document in Swagger UI, from assets vendored in static/console/swagger-ui
(no CDN). Public, like /openapi.json. Without JavaScript the page still lists every operation with its summary
and description (Markdown's `code` and paragraphs rendered)."""

from __future__ import annotations

import re

from flask import current_app, render_template
from markupsafe import Markup, escape

from workers.console import auth
from workers.console.blueprint import console

auth.PUBLIC_ENDPOINTS.add("console.api_docs")


def markdown_lite(text: str) -> Markup:
    """Paragraphs and `code` spans: all the Markdown the API's descriptions use."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    html = []
    for paragraph in paragraphs:
        escaped = str(escape(" ".join(paragraph.split())))
        html.append("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped) + "</p>")
    return Markup("".join(html))  # noqa: S704 - every piece of text in it was escaped above


@console.get("/docs")
def api_docs():
    spec = current_app.extensions["signal_sendgrid_api"].spec.to_dict()
    operations = [
        {
            "method": method.upper(),
            "path": path,
            "summary": op.get("summary", ""),
            "description": markdown_lite(op.get("description", "")),
        }
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
        if method != "parameters"
    ]
    return render_template(
        "console/docs.html", title=spec["info"]["title"], operations=operations, signed_in=auth.signed_in()
    )
