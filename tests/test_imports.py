"""The package's import graph has one direction (docs/components.md, "layers"): no module imports,
at module level or inside a function, one that imports it back through any chain."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "algd_components"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere in its body (function-level imports too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target in modules:
                out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules}
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    files = [p for p in PKG.rglob("*.py") if "conf" not in p.relative_to(PKG).parts[:1]]
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walk_sees_function_level_imports_and_finds_a_cycle():
    graph = import_graph()
    assert "algd_components.training.resume" in graph["algd_components.cli"]  # imported inside precheck
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    graph = import_graph()
    # the top-level package loads its names lazily (importlib, by string): it is nobody's dependency
    assert cycles(graph) == [], cycles(graph)


def test_lower_floors_never_import_the_training_machinery_or_entry_points():
    graph = import_graph()
    upper = ("algd_components.training", "algd_components.cli", "algd_components.compare", "algd_components.evaluate",
             "algd_components.plot", "algd_components.landscape")
    lower = ("functional", "actor", "critics", "dual", "lagrangians", "nn", "objectives", "baselines", "config",
             "algorithms")
    for name, deps in graph.items():
        if name.split(".")[1:2] and name.split(".")[1] in lower:
            assert not [d for d in deps if d.startswith(upper)], (name, deps)
