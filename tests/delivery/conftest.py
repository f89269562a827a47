"""Fixtures of the delivery tests (issue #5: outcomes against the sandbox's fault injection); their helpers, which
make work for the flush through the real path or as rows in bulk, are in tests/helpers/delivery.py."""

from __future__ import annotations

import pytest

from workers.integrations.status import client_for as stored_key_client


@pytest.fixture
def client_for(settings):
    """The workers' own client factory: the key is decrypted from the integration, so update-key matters."""
    return lambda integration: stored_key_client(integration, settings)
