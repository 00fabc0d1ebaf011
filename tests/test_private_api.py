"""The private members the package uses (algd_components/private_api.py): each still exists in
the installed torch / TorchRL / tensordict / OmegaConf / safety-gymnasium, and the code uses no
private member that the list does not name."""
import ast
import importlib
import inspect
from pathlib import Path

import pytest

from algd_components.private_api import PRIVATE_API

PACKAGE = Path(__file__).resolve().parents[1] / "algd_components"
NOT_PRIVATE = {"_", "_target_"}  # a throwaway name; Hydra's documented instantiation key


def _resolve(owner: str):
    """``owner`` imported: a module, or ``module.Class``."""
    try:
        return importlib.import_module(owner)
    except ImportError:
        module, _, name = owner.rpartition(".")
        return getattr(importlib.import_module(module), name)


def _source_files(obj) -> set[str]:
    """The files that define a module, or a class, its bases and their methods (a class's
    ``__module__`` may name the package that re-exports it, not the file it is written in)."""
    if not inspect.isclass(obj):
        return {inspect.getsourcefile(obj)}
    files = set()
    for cls in inspect.getmro(obj):
        for value in vars(cls).values():
            func = getattr(value, "fget", value)  # properties too
            code = getattr(func, "__code__", None)
            if code is not None and code.co_filename.endswith(".py"):
                files.add(code.co_filename)
    return files


@pytest.mark.parametrize("member", sorted(PRIVATE_API))
def test_each_listed_private_member_exists_in_the_installed_version(member):
    owner, kind, why = PRIVATE_API[member]
    obj = _resolve(owner)
    if kind == "attr":
        assert hasattr(obj, member), f"{owner}.{member} is gone from the installed version; used for: {why}"
    else:
        sources = "".join(Path(f).read_text() for f in _source_files(obj))
        assert f".{member}" in sources or f'"{member}"' in sources, (
            f"{owner} no longer makes or reads {member}; used for: {why}")


def _package_trees():
    return {f: ast.parse(f.read_text()) for f in sorted(PACKAGE.rglob("*.py"))}


def _ours(trees) -> set[str]:
    """Private names the package itself defines: methods and class attributes of its classes,
    and attributes it assigns on ``self`` / ``cls``."""
    names = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        names.add(item.name)
                    elif isinstance(item, ast.Assign):
                        names.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                names.add(node.attr)
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name.isidentifier() and name not in NOT_PRIVATE


def test_the_code_uses_no_unlisted_private_member():
    """``x._name`` (not the package's own), ``from mod import _name`` (another package's) and
    ``"_name"`` strings (``getattr`` / ``__dict__`` look-ups) must each be in PRIVATE_API."""
    trees = _package_trees()
    ours = _ours(trees)
    unlisted = {}
    for path, tree in trees.items():
        if path.name == "private_api.py":
            continue
        for node in ast.walk(tree):
            found = None
            if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours:
                found = node.attr
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and not (node.module or "").startswith("algd"):
                found = next((a.name for a in node.names if _private(a.name)), None)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _private(node.value):
                found = node.value if node.value not in ours else None
            if found and found not in PRIVATE_API:
                unlisted.setdefault(found, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not unlisted, f"private members used but not listed in algd_components/private_api.py: {unlisted}"


def test_the_list_names_nothing_the_code_no_longer_uses():
    trees = {p: t for p, t in _package_trees().items() if p.name != "private_api.py"}
    used = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.ImportFrom):
                used.update(a.name for a in node.names)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
    assert not set(PRIVATE_API) - used, f"listed but unused: {sorted(set(PRIVATE_API) - used)}"
