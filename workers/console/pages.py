"""Registers the console on the admin app: its blueprint, with every page module imported for its routes."""

from __future__ import annotations

from flask import Flask

from workers.console.blueprint import console


def register(app: Flask) -> None:
    # Imported for their routes (each adds them to `console`).
    from workers.console import auth, docs, install_form, integrations, live_events, overview, replay  # noqa: F401

    auth.init_app(app)
    app.register_blueprint(console)
