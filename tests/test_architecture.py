"""The package's shape, read from its source with ast: no import cycle among modelport's modules
(module-level and function-level imports alike), nothing inside the package imports the public
facade, imports point down the layers, and format names are spelled only by the formats and
the registry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "modelport"

# Lower layers never import higher ones (DESIGN.md's layout); a module may import its own layer.
LAYERS = [
    ("cli", "__main__", "__init__"),
    ("api",),
    ("conversion",),
    ("inspection", "assemble", "verification", "tensorflow", "keras_objects"),
    ("registry",),
    ("formats",),
    ("summary",),
    ("keras_config",),
    ("model", "errors", "fileio", "text", "quantize", "protobuf", "progress", "_version"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """The modelport modules a file imports anywhere in it (`from modelport.x import y` names
    the module modelport.x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("modelport")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module.startswith("modelport")):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {name for name in found if name in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, known) - {name} for name, path in modules.items()}


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer of the architecture test")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in graph[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    graph = _graph()
    assert "modelport.registry" in graph and "modelport.formats.keras_h5" in graph
    assert "modelport.formats.record" in graph["modelport.registry"]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_inside_imports_the_facade():
    importers = [m for m, deps in _graph().items() if "modelport.api" in deps
                 and m not in ("modelport", "modelport.cli")]
    assert importers == []


def test_imports_point_down():
    upward = [(m, d) for m, deps in _graph().items() for d in sorted(deps)
              if _layer(d) < _layer(m)]
    assert upward == []


def _format_names() -> set[str]:
    from modelport.registry import formats

    return set(formats())


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """String constants of a module, less docstrings and argparse help texts."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                     ast.Constant):
                skipped.add(id(body[0].value))
        if isinstance(node, ast.keyword) and node.arg in ("help", "description"):
            skipped |= {id(n) for n in ast.walk(node.value)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skipped]


@pytest.mark.parametrize("module", sorted(
    m for m in _modules() if not m.startswith("modelport.formats") and m != "modelport.registry"))
def test_format_names_live_in_formats_and_registry(module):
    pattern = re.compile(r"\b(" + "|".join(sorted(_format_names())) + r")\b")
    path = _modules()[module]
    spelled = [(line, text) for line, text in _string_literals(path) if pattern.search(text)]
    assert spelled == [], f"{path.name} spells format names: {spelled}"
