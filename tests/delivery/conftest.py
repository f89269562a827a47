"""Fixtures and helpers for issue #5: delivery outcomes against the sandbox's fault injection.

Work for the flush is made either through the real path (`store_events` + `process_events`) or, for volume
and for patches the mapping would refuse upstream, by inserting `Event` + `Delivery` rows in bulk."""

from __future__ import annotations

import pytest

from workers.integrations.status import client_for as stored_key_client


@pytest.fixture
def client_for(settings):
    """The workers' own client factory: the key is decrypted from the integration, so update-key matters."""
    return lambda integration: stored_key_client(integration, settings)
