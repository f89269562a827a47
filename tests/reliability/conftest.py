"""Helpers of the reliability tests (issue #7): figures shown in the CI output, process trees, service restarts
(of the outage tests' private services).

Every test records its figures with the `figures` fixture; they are printed as the test ends (with
capture disabled) and again in a "reliability figures" section of pytest's terminal summary, so they
appear in CI output even when every test passes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.fixtures.processes import Processes
from tests.helpers.reliability import (
    Supervised,
    descendants,
    sigkill,
)

FIGURES: list[tuple[str, dict]] = []


class Figures(dict):
    """A test's figures: set items, they are printed when the test ends (pass or fail)."""


@pytest.fixture
def figures(request, capsys) -> Iterator[Figures]:
    found = Figures()
    started = time.monotonic()
    yield found
    found["test_seconds"] = round(time.monotonic() - started, 1)
    FIGURES.append((request.node.name, dict(found)))
    with capsys.disabled():
        print(f"\n[reliability] {request.node.name}: {json.dumps(found, default=str)}")


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, found in FIGURES:
        terminalreporter.write_line(f"{name}:")
        for key, value in found.items():
            terminalreporter.write_line(f"    {key}: {value}")


@pytest.fixture
def supervised(processes: Processes) -> Iterator[Supervised]:
    running = Supervised(processes)
    yield running
    # Orphaned pool processes of killed workers, and anything still up: gone before the next test.
    for proc in processes.running:
        for pid in descendants(proc.pid):
            sigkill(pid)
