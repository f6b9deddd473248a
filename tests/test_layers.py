"""Imports run one way: down through the layers of ``seqbench.architecture``.

Every import of every module is read — relative or absolute, at module level or inside a
function, ``import seqbench.x`` and ``from seqbench import x`` — and one that points to a
higher layer fails the test, named with its file and line.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from seqbench.architecture import LAYERS, layer_of

PACKAGE = Path(__file__).resolve().parent.parent / "seqbench"


def module_name(path: Path, root: Path = PACKAGE) -> tuple[str, bool]:
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module or object, line) for every seqbench import in ``tree``."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "seqbench" or target.startswith("seqbench."):
                # ``from seqbench.x import y``: y may be a submodule of another layer
                found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("seqbench")]
    return found


def upward_imports(root: Path = PACKAGE) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(path, root)
        low = layer_of(module)
        for target, line in imported(ast.parse(path.read_text(encoding="utf-8")), module, is_package):
            high = layer_of(target)
            if low is not None and high is not None and high > low:
                out.append(f"{path.relative_to(root.parent)}:{line}: {module} ({LAYERS[low][0]}) imports "
                           f"{target} ({LAYERS[high][0]})")
    return out


def test_every_module_has_a_layer():
    missing = [module_name(p)[0] for p in PACKAGE.rglob("*.py") if layer_of(module_name(p)[0]) is None]
    assert not missing


def test_imports_only_point_down():
    assert upward_imports() == []


@pytest.mark.parametrize("where, line", [
    ("errors.py", "from seqbench import cli\n"),                                 # absolute, module level
    ("errors.py", "def f():\n    from .cli import main\n"),                      # relative, in a function
    ("spec/config.py", "def f():\n    import seqbench.reporting.plots\n"),       # plain import
    ("store/log.py", "from ..runs import runner\n"),                             # two dots, a package's module
])
def test_an_upward_import_fails(tmp_path, where, line):
    copy = tmp_path / "seqbench"
    for path in PACKAGE.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert upward_imports(copy) == []
    with open(copy / where, "a", encoding="utf-8") as handle:
        handle.write(line)
    found = upward_imports(copy)
    assert len(found) == 1 and found[0].startswith(f"seqbench/{where}:")
