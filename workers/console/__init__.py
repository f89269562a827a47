"""The operators' console: server-rendered pages (Flask + Jinja2) in the web process, beside the admin API.

`blueprint.console` is the one blueprint every page is on; `pages.register(app)` adds it, with its sign-in and
CSRF checks, to the web root's app (workers/web.py). Pages: `auth` (sign in/out), `overview`, `integrations`,
`live_events`, `replay`.
"""
