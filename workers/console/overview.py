"""Overview (`/`): the pipeline at a glance."""

from __future__ import annotations

from flask import render_template

from workers.console.blueprint import console


@console.get("/")
def overview():
    return render_template("console/overview.html")
