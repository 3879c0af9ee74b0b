"""The layers of DESIGN.md §2, read from the code's own imports (every `import`, also inside
functions): domain is pure, stages never reach the database or the edges, the store never calls
media code or the edges, the runner never the library or the edges; the library (the application
layer, `heaters/library.py`) never the edges; the command line (`heaters/_cli/`) reaches the
store, runner and stages only through the library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "heaters"

# layer -> the parts of heaters it must not import ("*" = anything but itself)
EDGES = {"tui", "cli", "_cli"}
FORBIDDEN: dict[str, set[str]] = {
    "domain": {"*"},
    "stages": {"store", "runner", "library"} | EDGES,
    "store": {"stages", "runner", "library"} | EDGES,
    "runner": {"library"} | EDGES,
    "library": EDGES,
    "tui": {"cli", "_cli"},
    "_cli": {"store", "runner", "stages"},
}


def imports_of(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, module) of every heaters import in a file, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from heaters import faults` imports heaters.faults
            names = [f"{base}.{a.name}" for a in node.names] if base == "heaters" else [base]
            found += [(node.lineno, name) for name in names]
    return [(line, name) for line, name in found if name.split(".")[0] == "heaters"]


def part(module: str) -> str:
    """heaters.store.vectors -> store; heaters.cli -> cli; heaters -> heaters."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "heaters"


def violations(layer: str, root: Path = PACKAGE) -> list[str]:
    bad = []
    folder = root / layer  # a package, or a module of its own (library.py)
    paths = sorted(folder.rglob("*.py")) if folder.is_dir() else [root / f"{layer}.py"]
    assert paths and all(p.is_file() for p in paths), f"no layer {layer} under {root}"
    for path in paths:
        for line, module in imports_of(path, root):
            target = part(module)
            if target == layer:
                continue
            if "*" in FORBIDDEN[layer] or target in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(root.parent)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    assert violations(layer) == []


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checker itself: a forbidden import in any spelling is found."""
    root = tmp_path / "heaters"
    (root / "store" / "sub").mkdir(parents=True)
    (root / "store" / "sub" / "probe.py").write_text(
        "import heaters.stages.export\n"
        "from heaters.runner import dispatch\n"
        "from heaters import cli\n"
        "def f():\n    from ...tui import app\n",
        encoding="utf-8",
    )
    (root / "store" / "fine.py").write_text(
        "from heaters.store import db\nfrom heaters.domain import states\nfrom . import db\n",
        encoding="utf-8",
    )
    found = violations("store", root)
    assert [v.split(" imports ")[1] for v in found] == [
        "heaters.stages.export",
        "heaters.runner",
        "heaters.cli",
        "heaters.tui",
    ]


def test_the_application_layer_is_checked_too(tmp_path: Path) -> None:
    """The library is one module: its imports are read; the runner may not call it, and the
    command line may not go around it."""
    root = tmp_path / "heaters"
    for folder in ("runner", "_cli"):
        (root / folder).mkdir(parents=True)
    (root / "library.py").write_text(
        "from heaters.store import review\nfrom heaters._cli import app\n", encoding="utf-8"
    )
    (root / "runner" / "loop.py").write_text("from heaters.library import Library\n")
    (root / "_cli" / "find.py").write_text(
        "from heaters.library import Library\ndef f():\n    from heaters.store import search\n"
    )
    assert [v.split(" imports ")[1] for v in violations("library", root)] == ["heaters._cli"]
    assert [v.split(" imports ")[1] for v in violations("runner", root)] == ["heaters.library"]
    assert [v.split(" imports ")[1] for v in violations("_cli", root)] == ["heaters.store"]
