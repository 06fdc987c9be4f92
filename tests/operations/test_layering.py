"""The product never depends on its seed data, and apps depend one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each app and the packages it must never import.
FORBIDDEN = {
    "chains": {"crm", "recruitment", "api", "seeds", "operations"},
    "crm": {"recruitment", "api", "seeds", "operations"},
    "recruitment": {"api", "seeds", "operations"},
    "api": {"seeds", "operations"},
    "config": {"seeds"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_app_imports_no_higher_app_and_no_seed_data(app):
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[app])
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_product_runner_calls_seed_by_name_only():
    source = ROOT / "operations" / "management" / "commands" / "runproduct.py"
    assert "seeds" not in imported_packages(source)
    assert 'call_command("seed"' in source.read_text(encoding="utf-8")
