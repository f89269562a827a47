"""The module table of docs/architecture.md against the tree: a row for every module under config/, mapping/,
models/ and workers/, each with its line count.

    .venv/bin/python scripts/architecture_lines.py          # check: what is missing, gone or off (exit 1)
    .venv/bin/python scripts/architecture_lines.py --write  # regenerate the counts in place

`--write` sets every count, drops the rows of modules that are gone, and adds a row for a new module with the
first sentence of its docstring (edit it into what the module owns). tests/test_architecture_doc.py runs the check.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("config", "mapping", "models", "workers")
TOLERANCE = 0.20  # a count may drift this much (a fraction of the real count) before the check fails
ROW = re.compile(r"^\| `(?P<path>[\w/]+\.py)` \| (?P<lines>\d+) \| (?P<what>.*) \|$")


def modules() -> dict[str, int]:
    """Every module of the four packages (an empty `__init__.py` aside) and its line count."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = len(path.read_text().splitlines())
            if path.name == "__init__.py" and lines == 0:
                continue
            found[path.relative_to(ROOT).as_posix()] = lines
    return found


def documented(text: str) -> dict[str, int]:
    """The module rows of the doc: path -> the line count it gives."""
    return {m["path"]: int(m["lines"]) for line in text.splitlines() if (m := ROW.match(line))}


def problems(text: str, actual: dict[str, int]) -> list[str]:
    rows = documented(text)
    found = [f"{path}: not in docs/architecture.md" for path in actual if path not in rows]
    found += [f"{path}: in docs/architecture.md but gone" for path in rows if path not in actual]
    for path, lines in rows.items():
        real = actual.get(path)
        if real is not None and abs(lines - real) > TOLERANCE * max(real, 1):
            found.append(f"{path}: docs/architecture.md says {lines} lines, it has {real}")
    return found


def first_line(path: str) -> str:
    """The first sentence of the module's docstring, at most about 110 characters: a start for its row."""
    doc = ast.get_docstring(ast.parse((ROOT / path).read_text())) or "(describe what it owns)"
    sentence = " ".join(doc.strip().split("\n\n")[0].split()).split(". ")[0].rstrip(".")
    return sentence if len(sentence) <= 110 else sentence[:110].rsplit(" ", 1)[0] + " ..."


def regenerate(text: str, actual: dict[str, int]) -> str:
    out: list[str] = []
    for line in text.splitlines():
        m = ROW.match(line)
        if m and m["path"] not in actual:
            continue
        out.append(f"| `{m['path']}` | {actual[m['path']]} | {m['what']} |" if m else line)
    rows = documented(text)
    for path, lines in actual.items():
        if path not in rows:  # after the last row of its folder (or of its package, or of the table)
            out.insert(_place(out, path), f"| `{path}` | {lines} | {first_line(path)} |")
    return "\n".join(out) + "\n"


def _place(out: list[str], path: str) -> int:
    for prefix in (path.rsplit("/", 1)[0] + "/", path.split("/", 1)[0] + "/", ""):
        at = [i for i, line in enumerate(out) if (m := ROW.match(line)) and m["path"].startswith(prefix)]
        if at:
            return at[-1] + 1
    return len(out)


def main(argv: list[str]) -> int:
    text, actual = DOC.read_text(), modules()
    if "--write" in argv:
        DOC.write_text(regenerate(text, actual))
        text = DOC.read_text()
    found = problems(text, actual)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
