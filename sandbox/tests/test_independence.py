"""The sandbox stands alone: no module of ``m365sandbox`` imports a client of it.

Every ``import`` and ``from ... import`` in the package's source is read with ``ast``, at any depth
(inside functions, ``try`` blocks and ``if TYPE_CHECKING`` included), so a guarded or late import
is caught as well as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import m365sandbox

PACKAGE = Path(m365sandbox.__file__).resolve().parent
FORBIDDEN = ("mailwarden", "blocks", "tasks", "flows", "deployments", "tests")
"""The product that ships beside the sandbox, its Prefect layers, and any test tree."""


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in ``source``."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_walk_sees_the_whole_package() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _sources()}
    assert {"__init__.py", "app.py", "cli.py", "server.py"} <= names
    assert any("/" in n for n in names)  # subpackages are walked too


def test_the_checker_finds_nested_and_guarded_imports() -> None:
    source = ("import os\n"
              "def f():\n"
              "    try:\n"
              "        from mailwarden.graph import endpoints_for\n"
              "    except ImportError:\n"
              "        import mailwarden\n")
    assert [m for _, m in imported_modules(source)] == ["os", "mailwarden.graph", "mailwarden"]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_no_module_imports_a_client_of_the_sandbox(path: Path) -> None:
    bad = [(line, module) for line, module in imported_modules(path.read_text(encoding="utf-8"))
           if module.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{path.name} imports {bad}"
