"""Shared fixtures: the SendGrid sandbox, real PostgreSQL and RabbitMQ, factories."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.services",
    "tests.fixtures.transactions",
    "tests.fixtures.processes",
    "tests.fixtures.integrations",
]


def pytest_collection_modifyitems(items) -> None:
    """A test that stops PostgreSQL or RabbitMQ (it asks for `services_restored`) is marked `outage`:
    scripts/test runs those alone, after the rest has run in parallel, since they take the services away from
    every other test on the machine."""
    import pytest

    for item in items:
        if "services_restored" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.outage)
