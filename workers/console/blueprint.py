"""What every console page shares: the blueprint they are on, its templates and its local static assets.

Page modules add their routes to `console` when imported; `workers.console.pages.register` imports them and
registers the blueprint on the web root's app (workers/web.py). Templates extend `console/base.html`
(blocks `title`, `content`).
"""

from __future__ import annotations

from flask import Blueprint

console = Blueprint(
    "console",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)
