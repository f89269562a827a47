"""Helpers for the privacy tests: run the pipeline's plain functions, run an erasure in-process, pg_dump."""

from __future__ import annotations

import pytest


@pytest.fixture
def hashing_settings(settings):
    """Processing reads the secret through the bound settings (as workers/tasks.py's `use` binds them)."""
    from workers.privacy import hashing

    hashing.bind(settings)
    yield settings
    hashing._bound.clear()
