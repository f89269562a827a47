"""The layers, read from the import graph (docs/architecture.md): an import may only point down.

    web root     workers/web.py (builds the web process: mounts the API, the console, /metrics), served by
                 workers/web_server.py (`signal-sendgrid api`)
    interfaces   workers/admin (JSON API), workers/console (pages), workers/cli (commands); the API and the
                 console share workers/web_state.py (settings, sessions, one transaction per request)
    services     workers/services
    stages       workers/ingest, processing, delivery, privacy, integrations, sendgrid; tasks, celery, beat
    base         models, mapping, config

An interface imports no other interface package, never `workers.tasks` (a service sends its triggers after
commit) and writes no SQL statement of its own (sqlalchemy's select, insert, update, delete: a service reads and
changes). Nothing below the interfaces imports one, or the web root; nothing below the services imports them.
Every import counts: at the top of a module or inside a function, `import x` or `from x import y`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTERFACES = ("workers.admin", "workers.console", "workers.cli")
WEB_ROOT = ("workers.web", "workers.web_state", "workers.web_server")  # the web process: its app, shared state, server
SERVICES = ("workers.services",)
STAGES = (
    "workers.ingest",
    "workers.processing",
    "workers.delivery",
    "workers.privacy",
    "workers.integrations",
    "workers.sendgrid",
    "workers.tasks",
    "workers.celery",
    "workers.beat",
    "workers.failures",
    "workers.backoff",
)
BASE = ("models", "mapping", "config")
STATEMENTS = {"select", "insert", "update", "delete"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(*packages: str) -> list[tuple[str, Path]]:
    """Every module of these packages (or single modules), by dotted name."""
    found = []
    for package in packages:
        base = ROOT.joinpath(*package.split("."))
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        found += [(module_name(f), f) for f in files if f.exists()]
    return found


def within(name: str, packages: tuple[str, ...]) -> str | None:
    """The package of `packages` that `name` is (or is inside), if any."""
    return next((p for p in packages if name == p or name.startswith(p + ".")), None)


def imports(module: str, path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module imported, name imported from it) for every import in the file, in functions too; a
    `from package import submodule` also counts as importing package.submodule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            for _ in range(node.level - 1):  # relative: `..x` is the package above
                package = package.rpartition(".")[0]
            source = ".".join(filter(None, [package, node.module])) if node.level else node.module or ""
            for alias in node.names:
                found.append((node.lineno, source, alias.name))
                found.append((node.lineno, f"{source}.{alias.name}", None))
    return found


def statement_uses(path: Path) -> list[tuple[int, str]]:
    """Where the file writes a statement itself: `from sqlalchemy[...] import select` (or insert, update,
    delete), or `sqlalchemy.select(...)` / `sa.select(...)` through the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    aliases = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name in STATEMENTS]
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STATEMENTS:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append((node.lineno, f"{ast.unparse(node)}"))
    return found


def violations(packages: tuple[str, ...], forbidden, why: str) -> list[str]:  # noqa: ANN001 - a predicate
    problems = {}
    for module, path in modules(*packages):
        for line, imported, _ in imports(module, path):
            if forbidden(module, imported):  # the first name a line imports that breaks the rule
                problems.setdefault((str(path.relative_to(ROOT)), line), f"imports {imported} ({why})")
    return [f"{where}:{line} {problem}" for (where, line), problem in sorted(problems.items())]


def no_problem(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} imports break the layers:\n" + "\n".join(problems)


def other_interface(module: str, imported: str) -> bool:
    mine, theirs = within(module, INTERFACES), within(imported, INTERFACES)
    return theirs is not None and theirs != mine


def test_the_packages_are_where_the_layers_say() -> None:
    """The test reads real files: a renamed package would make every other test here pass for nothing."""
    for package in (*INTERFACES, *SERVICES, "workers.processing", "workers.delivery", *BASE):
        assert modules(package), f"{package} has no module: update the layers in tests/test_layers.py"


def test_every_module_of_workers_is_in_a_layer() -> None:
    """A new module says where it stands (here), so that the rules below read it."""
    layers = (*INTERFACES, *WEB_ROOT, *SERVICES, *STAGES)
    unplaced = [name for name, _ in modules("workers") if name != "workers" and within(name, layers) is None]
    assert unplaced == [], f"add these to a layer in tests/test_layers.py: {unplaced}"


def test_an_interface_imports_no_other_interface() -> None:
    no_problem(violations(INTERFACES, other_interface, "an interface imports no other interface"))


def test_the_web_interfaces_do_not_import_the_root_that_mounts_them() -> None:
    """workers/web.py mounts the API and the console; they share only workers.web_state (`api` serves the root)."""

    def root(_module: str, imported: str) -> bool:
        return within(imported, ("workers.web", "workers.web_server")) is not None

    no_problem(violations(("workers.admin", "workers.console"), root, "the web root mounts the interfaces"))


def test_an_interface_sends_no_task_itself() -> None:
    """Triggers are sent by the services (workers.services.triggers), after commit."""

    def tasks(_module: str, imported: str) -> bool:
        return within(imported, ("workers.tasks",)) is not None

    no_problem(violations(INTERFACES, tasks, "a service sends the trigger: workers.services.triggers"))


def test_an_interface_writes_no_statement() -> None:
    """Reads and changes are the services' (`select` and friends live there and in the stages)."""
    problems = [
        f"{path.relative_to(ROOT)}:{line} uses {name} (a service owns the statement)"
        for _, path in modules(*INTERFACES)
        for line, name in statement_uses(path)
    ]
    no_problem(sorted(problems))


@pytest.mark.parametrize(
    ("layer", "above"),
    [
        (SERVICES, INTERFACES + WEB_ROOT),
        (STAGES, INTERFACES + WEB_ROOT + SERVICES),
        (BASE, INTERFACES + WEB_ROOT + SERVICES),
    ],
    ids=["services", "stages", "models-mapping-config"],
)
def test_no_arrow_runs_up(layer: tuple[str, ...], above: tuple[str, ...]) -> None:
    def upward(_module: str, imported: str) -> bool:
        return within(imported, above) is not None

    no_problem(violations(layer, upward, "an arrow running up"))


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The readers catch imports inside functions, `from x import y` and statements through an alias."""
    source = tmp_path / "sample.py"
    source.write_text(
        "import sqlalchemy as sa\n"
        "def page():\n"
        "    from workers.tasks import trigger_flush\n"
        "    from workers import console\n"
        "    return sa.select(1)\n"
        "from sqlalchemy.dialects.postgresql import insert\n"
    )
    imported = {name for _, name, _ in imports("workers.admin.sample", source)}
    assert {"workers.tasks", "workers.tasks.trigger_flush", "workers.console"} <= imported
    assert {name for _, name in statement_uses(source)} == {"sa.select", "sqlalchemy.dialects.postgresql.insert"}
