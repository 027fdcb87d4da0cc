"""The packages' dependencies point one way: kernel ← traceability, workers ← shop.

Read from the source (every `import` and `from … import` statement, also inside functions), so a
lazy import inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The Celery worker's entry point builds the Flask app, like shop.wsgi does for gunicorn.
COMPOSITION_ROOTS = {"workers/celery_worker.py"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    "package, forbidden",
    [("kernel", {"shop", "traceability", "workers"}), ("traceability", {"shop", "workers"}), ("workers", {"shop"})],
)
def test_package_does_not_import_the_packages_above_it(package, forbidden):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in COMPOSITION_ROOTS:
            continue
        bad = imported_packages(path) & forbidden
        if bad:
            offenders.append(f"{relative} imports {', '.join(sorted(bad))}")
    assert offenders == []
