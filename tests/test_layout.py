"""The package's layout is the pipeline: every import points down the layers, and no import cycle exists.

Imports are read from every module's syntax tree, those inside functions included, so a cycle cannot hide behind a
function-local import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import tanas_nni

PACKAGE = Path(tanas_nni.__file__).parent

# Each part of the package and the parts below it that it may import (the package root holds only the version).
LAYERS: dict[str, set[str]] = {
    "core": set(),
    "resources": set(),  # package data only (read with importlib.resources); imports nothing
    "data": {"core"},
    "models": {"core"},
    "training": {"core"},
    "dictionary": {"core", "data", "models", "training"},
    "distance": {"core", "data", "models", "training", "dictionary"},
    "space": {"core"},
    "strategy": {"core", "data", "training", "space"},
    "pipeline": {"core", "data", "models", "training", "dictionary", "distance", "space", "strategy"},
    "testing": {"core", "data", "models", "training", "dictionary", "distance", "space", "strategy", "pipeline"},
    "experiment": {"core", "data", "models", "training", "dictionary", "distance", "space", "strategy", "pipeline"},
    "cli": {"core", "data", "models", "training", "dictionary", "distance", "space", "strategy", "pipeline",
            "experiment"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, modules: set[str], name: str | None = None) -> set[str]:
    """The package modules ``path`` (module ``name``) imports, anywhere in it."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            # `import a.b.c` depends on a.b.c; `from a.b import c` on a.b (and a.b.c when c is a module).
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {m: imports_of(p, modules) for m, p in paths.items()}


def part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_part_is_in_a_layer():
    parts = {part(m) for m in graph()} - {""}
    assert parts <= set(LAYERS), f"parts without a layer: {sorted(parts - set(LAYERS))}"


def test_imports_point_down_the_layers():
    upward = []
    for module, deps in graph().items():
        here = part(module)
        for dep in deps:
            there = part(dep)
            if there in ("", here):
                continue  # the package root (its version) and imports within one part
            if here == "" or there not in LAYERS[here]:
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(g[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    # A package's __init__ importing its own submodules is how packages export; a submodule importing its own
    # package's __init__ back would be a cycle and counts.
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_local_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from ..pipeline import run_pipeline\n")
    deps = imports_of(probe, set(graph()), name="tanas_nni.space.probe")
    assert deps == {"tanas_nni.pipeline"} and "pipeline" not in LAYERS["space"]
