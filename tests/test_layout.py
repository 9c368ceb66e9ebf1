"""Each package imports only what its ``__init__`` docstring allows (module-level imports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level names its modules must not import at module level
FORBIDDEN = {
    "app": {"analysis", "simulation"},
    "app/store": {"app.assignments", "app.service", "app.routes", "analysis", "platforms", "studies", "stimuli"},
    "stimuli": {"analysis", "platforms", "simulation", "studies", "app.store", "app.service"},
    "analysis": {"platforms", "simulation"},
    "studies": {"analysis", "stimuli", "platforms", "simulation"},
    "platforms": {"simulation"},
}
EXEMPT = {"app/cli.py"}  # the composition root gathers every part's commands


def module_level_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_layout(package):
    broken = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in EXEMPT:
            continue
        for name in module_level_imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[package]):
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert broken == []


@pytest.mark.parametrize("package", ["app", "app/store", "app/routes", "stimuli", "analysis", "studies",
                                     "platforms", "platforms/mturk", "simulation"])
def test_every_package_says_what_it_owns(package):
    doc = ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))
    assert doc and len(doc.split()) >= 12
