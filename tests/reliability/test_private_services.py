"""The outage tests' own PostgreSQL and RabbitMQ (tests/fixtures/private_services.py): the restarts stop those,
the product's processes are pointed at them, and the machine's services are the same processes afterwards."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
import pytest
from kombu import Connection

from tests.fixtures.private_services import MachineServices, accepts, machine_postgres_pid
from tests.helpers.reliability import restart_postgres, restart_rabbitmq

pytestmark = pytest.mark.integration


def test_the_restarts_stop_private_services_only(services_restored, machine_services, service_env, db, figures):
    postgres, rabbitmq = services_restored.postgres, services_restored.rabbitmq
    assert urlsplit(service_env["DATABASE_URL"]).port == postgres.port != 5432
    assert urlsplit(service_env["BROKER_URL"]).port == rabbitmq.port != 5672
    assert db.kw["bind"].url.port == postgres.port
    machine = (machine_services.postgres, machine_services.rabbitmq)
    assert postgres.pid() not in machine and rabbitmq.pid() not in machine

    before = postgres.pid()
    figures["postgres_restart_seconds"] = round(restart_postgres(), 1)
    assert postgres.pid() != before  # a new postmaster: the pid check sees a restart
    with psycopg.connect(service_env["DATABASE_URL"].replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    figures["rabbitmq_restart_seconds"] = round(restart_rabbitmq(), 1)
    with Connection(service_env["BROKER_URL"], connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
    assert machine_services.changed() == []


def test_restarts_refuse_to_run_without_private_services():
    with pytest.raises(RuntimeError, match="services_restored"):
        restart_postgres()
    with pytest.raises(RuntimeError, match="services_restored"):
        restart_rabbitmq()


def test_a_restarted_machine_service_is_reported():
    pid = machine_postgres_pid()
    if pid is None:
        pytest.skip("the machine's PostgreSQL pid is not readable here (pg_lsclusters and its postmaster.pid)")
    assert accepts(5432)
    recorded = MachineServices(postgres=pid + 1, rabbitmq=None)  # as if it had been restarted since
    assert recorded.changed() == [f"the machine's PostgreSQL was pid {pid + 1}, now {pid}"]
    assert MachineServices(postgres=pid, rabbitmq=None).changed() == []
