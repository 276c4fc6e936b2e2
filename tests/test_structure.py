"""The package's shape, checked from its source: the layers import downwards only, and no import
circle is left that works only because one of its imports sits inside a function.

Walks `src/mme5` with `ast` (no module is imported), so a new arrow back up the layers or a new
function-local circle fails here, naming the modules and lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src"

# Layer rules (docs: /work/shared/spec/architecture.md, "Dependency rule"): importer prefix -> forbidden prefixes.
FORBIDDEN = {
    "mme5.index": ("mme5.serving", "mme5.cli", "mme5.training", "mme5.synthesis", "mme5.evaluation"),
    "mme5.model": ("mme5.serving", "mme5.index", "mme5.cli", "mme5.training", "mme5.synthesis", "mme5.integrations",
                   "mme5.evaluation"),
    "mme5.serving": ("mme5.cli", "mme5.training", "mme5.synthesis"),
    "mme5.evaluation": ("mme5.serving", "mme5.cli", "mme5.training"),
    "mme5.training": ("mme5.serving", "mme5.cli"),
    "mme5.synthesis": ("mme5.serving", "mme5.index", "mme5.cli", "mme5.training"),
    "mme5.integrations": ("mme5.serving", "mme5.cli"),
    "mme5.data": ("mme5.serving", "mme5.index", "mme5.cli", "mme5.training"),
}

# Imports inside functions that close a circle on purpose (importer, imported).
REGISTRY_LOADING = {
    # the task registry fills itself on first use: the catalogs register their tasks on import
    ("mme5.evaluation.tasks", "mme5.evaluation.catalog"),
    ("mme5.evaluation.tasks", "mme5.evaluation.emoji"),
    ("mme5.evaluation.tasks", "mme5.evaluation.mmeb_v2.catalog"),
    # ... and the loader registry: these modules register their loaders on import
    ("mme5.evaluation.loaders", "mme5.evaluation.xtd"),
    ("mme5.evaluation.loaders", "mme5.evaluation.mmeb_v2.beir"),
    ("mme5.evaluation.loaders", "mme5.evaluation.mmeb_v2.video"),
}
ALLOWED_CIRCLE_EDGES = REGISTRY_LOADING


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((ROOT / "mme5").rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (never run, so never part of a circle)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported mme5 module, line, inside a function) for every runtime import in `module`."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    local = {
        id(n)
        for fn in ast.walk(tree)
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for n in ast.walk(fn)
    }
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        out += [(t, node.lineno, id(node) in local) for t in targets if t in MODULES and t != module]
    return out


GRAPH = {m: imports(m) for m in MODULES}


def test_the_walk_sees_the_package():
    assert len(MODULES) > 100 and "mme5.index.search" in MODULES
    assert ("mme5.index.search", True) not in {(t, loc) for t, _, loc in GRAPH["mme5.index.build"]}
    assert any(t == "mme5.index.search" for t, _, _ in GRAPH["mme5.index.build"])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_import_downwards_only(layer):
    bad = [
        f"{module}:{line} imports {target}"
        for module, edges in GRAPH.items()
        if module == layer or module.startswith(layer + ".")
        for target, line, _ in edges
        if any(target == f or target.startswith(f + ".") for f in FORBIDDEN[layer])
    ]
    assert not bad, "imports that run back up the layers:\n" + "\n".join(bad)


def test_only_the_cli_imports_the_cli():
    bad = [
        f"{module}:{line} imports {target}"
        for module, edges in GRAPH.items()
        if not module.startswith("mme5.cli")
        for target, line, _ in edges
        if target.startswith("mme5.cli")
    ]
    assert not bad, "\n".join(bad)


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_hides_behind_a_function_local_import():
    edges = {
        module: {t for t, _, local in targets if not (local and (module, t) in ALLOWED_CIRCLE_EDGES)}
        for module, targets in GRAPH.items()
    }
    circles = _circles(edges)
    shown = [
        " <-> ".join(c) + "\n    " + "\n    ".join(
            f"{m}:{line} -> {t}{' (inside a function)' if local else ''}"
            for m in c for t, line, local in GRAPH[m] if t in c
        )
        for c in circles
    ]
    assert not circles, "import circles:\n" + "\n".join(shown)


def test_the_circle_finder_finds_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_stand_ins_stay_out_of_the_package():
    assert "mme5.synthesis.stub_server" not in MODULES
    assert (Path(__file__).parent / "fixtures" / "stub_server.py").is_file()


def test_the_packages_form_layers():
    """Between top-level packages and modules (model, index, serving, ...) the arrows never form a
    circle: each package can be read knowing only those below it."""
    packages: dict[str, set[str]] = {}
    for module, edges in GRAPH.items():
        a = ".".join(module.split(".")[:2])
        for target, _, _ in edges:
            b = ".".join(target.split(".")[:2])
            if a != b and (module, target) not in ALLOWED_CIRCLE_EDGES:
                packages.setdefault(a, set()).add(b)
    assert packages["mme5.serving"] >= {"mme5.index"} and "mme5.serving" not in packages["mme5.index"]
    assert not _circles(packages), _circles(packages)
