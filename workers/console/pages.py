"""Mounts the console on the web root's app: its blueprint, with every page module imported for its routes."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Blueprint, Flask

from workers.console.blueprint import console


def register(app: Flask, exempt_from_csrf: Iterable[Blueprint] = ()) -> None:
    """The console on `app`; the blueprints of `exempt_from_csrf` (the JSON API: a bearer token, no cookie)
    skip the CSRF check every form of the console gets."""
    # Imported for their routes (each adds them to `console`).
    from workers.console import auth, docs, install_form, integrations, live_events, overview, replay  # noqa: F401

    auth.init_app(app, exempt_from_csrf)
    app.register_blueprint(console)
