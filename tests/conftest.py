"""Shared fixtures: the SendGrid sandbox, real PostgreSQL and RabbitMQ, factories."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.services",
    "tests.fixtures.processes",  # before private_services, which imports it (registered before its importers)
    "tests.fixtures.private_services",
    "tests.fixtures.transactions",
    "tests.fixtures.integrations",
    "tests.fixtures.admin_api",
    "tests.fixtures.factories",
]


def pytest_collection_modifyitems(items) -> None:
    """A test that stops PostgreSQL or RabbitMQ (it asks for `services_restored`) is marked `outage`: it gets
    throwaway services of its own to stop (tests/fixtures/private_services.py), never the machine's. scripts/test
    runs those tests alone, after the rest has run in parallel: they start servers and are slow and CPU-hungry."""
    import pytest

    for item in items:
        if "services_restored" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.outage)
