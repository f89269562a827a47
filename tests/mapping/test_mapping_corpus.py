"""The corpus: every realistic event maps to exactly the MappedEvent recorded for it."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from mapping import map_event
from tests.mapping.corpus import CASES, RECEIVED_AT, Case


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_event_maps_to_expected_result(case: Case) -> None:
    assert asdict(map_event(case.event, case.config, RECEIVED_AT)) == case.expected


def test_corpus_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
