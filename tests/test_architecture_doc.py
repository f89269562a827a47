"""docs/architecture.md names every module of config/, mapping/, models/ and workers/ with its line count, within
20% (scripts/architecture_lines.py checks it; `--write` regenerates the counts)."""

from __future__ import annotations

import importlib.util

from tests.fixtures.processes import ROOT

spec = importlib.util.spec_from_file_location("architecture_lines", ROOT / "scripts" / "architecture_lines.py")
lines = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lines)

FIX = "regenerate with `.venv/bin/python scripts/architecture_lines.py --write`, then describe any new module"


def test_every_module_is_in_the_doc_with_its_line_count():
    found = lines.problems(lines.DOC.read_text(), lines.modules())
    assert not found, f"docs/architecture.md is out of date ({FIX}):\n" + "\n".join(found)


def test_a_missing_module_a_gone_one_and_a_drifted_count_are_each_reported():
    actual = {"workers/a.py": 100, "workers/b.py": 100, "workers/c.py": 100}
    doc = "| `workers/a.py` | 119 | fine |\n| `workers/c.py` | 121 | drifted |\n| `workers/gone.py` | 5 | gone |\n"
    assert lines.problems(doc, actual) == [
        "workers/b.py: not in docs/architecture.md",
        "workers/gone.py: in docs/architecture.md but gone",
        "workers/c.py: docs/architecture.md says 121 lines, it has 100",
    ]


def test_regenerating_sets_the_counts_drops_gone_rows_and_adds_new_ones_with_their_docstring():
    actual = {"workers/a.py": 100, "workers/backoff.py": lines.modules()["workers/backoff.py"]}
    doc = "# T\n\n| `workers/a.py` | 7 | what a owns |\n| `workers/gone.py` | 5 | gone |\n\nafter\n"
    regenerated = lines.regenerate(doc, actual)
    assert regenerated.startswith("# T\n\n| `workers/a.py` | 100 | what a owns |\n| `workers/backoff.py` | ")
    assert "Exponential backoff" in regenerated and "gone" not in regenerated
    assert regenerated.endswith("\n\nafter\n") and lines.problems(regenerated, actual) == []
