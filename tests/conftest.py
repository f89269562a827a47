"""Shared fixtures: the SendGrid sandbox, real PostgreSQL and RabbitMQ, factories."""

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.services",
    "tests.fixtures.transactions",
    "tests.fixtures.processes",
    "tests.fixtures.integrations",
]
