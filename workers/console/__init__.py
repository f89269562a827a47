"""The operators' console: server-rendered pages (Flask + Jinja2) on the admin API's process and port.

`blueprint.console` is the one blueprint every page is on; `register(app)` adds it, with its sign-in and CSRF
checks, to the admin app. Pages: `auth` (sign in/out), `overview`, `integrations`, `live_events`, `replay`.
"""
