"""The README's layout table is an allow-list: each package imports only the packages its row names.

Every import counts, at module level or inside a function, so no import runs from a lower layer
up to a higher one. A package, a top-level name or an import not listed fails the test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("kernel", "stimuli", "analysis", "studies", "platforms", "app", "simulation", "cli", "scripts", "tests")

# package -> the project's packages it may import (the README's "may import" column)
ALLOWED = {
    "kernel": set(),
    "stimuli": {"kernel"},
    "analysis": {"kernel"},
    "simulation": {"kernel", "stimuli", "analysis"},
    "studies": {"kernel", "stimuli", "analysis", "simulation"},
    "platforms": {"kernel", "analysis"},
    "app": {"kernel", "studies", "platforms"},
    "cli": {"kernel", "stimuli", "analysis", "studies", "platforms", "app", "simulation"},
    "scripts": {"kernel", "stimuli", "analysis", "studies", "platforms", "app", "simulation", "cli"},
}


def python_files(package: str) -> list[Path]:
    """The package's Python files; for ``scripts/`` also its executable Python scripts without a suffix."""
    files = sorted((ROOT / package).rglob("*.py"))
    if package == "scripts":
        files += sorted(p for p in (ROOT / package).iterdir()
                        if p.is_file() and not p.suffix and p.read_text(errors="ignore").startswith("#!/usr/bin/env python"))
    return files


def project_imports(path: Path) -> set[tuple[int, str]]:
    """``(line, module)`` of every import of a project package in ``path``, wherever it stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.update((node.lineno, n) for n in names if n.split(".")[0] in PROJECT)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_its_row_allows(package):
    broken = []
    for path in python_files(package):
        for line, name in sorted(project_imports(path)):
            top = name.split(".")[0]
            if top != package and top not in ALLOWED[package]:
                broken.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert broken == []


def test_every_top_level_package_has_a_row():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages <= set(ALLOWED), f"packages without a row in the layout: {sorted(packages - set(ALLOWED))}"


def test_the_readme_table_matches_the_allow_list():
    table = {}
    for row in re.findall(r"^\| `([a-z_]+)/` \|[^|]*\| ([^|]*) \|$", (ROOT / "README.md").read_text(), re.M):
        table[row[0]] = set(re.findall(r"`([a-z_]+)`", row[1]))
    assert {name: table.get(name) for name in ALLOWED} == ALLOWED


def test_no_kind_name_or_platform_is_named_outside_its_package():
    """Only `studies/` compares a kind's name, only `platforms/` imports a concrete platform."""
    kind_compare = re.compile(r"""(kind|kind_name)\S*\s*[!=]=\s*["'](mvt|ratings)["']|["'](mvt|ratings)["']\s*[!=]=\s*\S*kind""")
    concrete = re.compile(r"^\s*(from|import) platforms\.(mturk|prolific|panel)\b", re.M)
    broken = []
    for package in ALLOWED:
        for path in python_files(package):
            text = path.read_text()
            if package != "studies" and kind_compare.search(text):
                broken.append(f"{path.relative_to(ROOT)} compares a kind name")
            if package not in ("platforms", "cli", "scripts") and concrete.search(text):
                broken.append(f"{path.relative_to(ROOT)} imports a concrete platform")
    assert broken == []


@pytest.mark.parametrize("package", ["kernel", "kernel/store", "app", "app/routes", "stimuli", "analysis", "studies",
                                     "platforms", "platforms/mturk", "simulation", "cli"])
def test_every_package_says_what_it_owns(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 12
