"""The layers of seqbench, lowest first, stated once.

A module imports only from its own layer or from the layers below it — relative or absolute,
at module level or inside a function (``tests/test_layers.py`` reads every import and fails
on one that points up). A module belongs to the layer of the longest prefix that names it.
``docs/architecture.md`` describes each layer and draws them from the code
(``python docs/architecture.py`` regenerates its picture). The import reader below
(``modules``) serves those tests and that script; it needs only the standard library.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Optional

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("basics", ("seqbench._version", "seqbench.architecture", "seqbench.errors", "seqbench.words",
                "seqbench.stats")),
    ("specs", ("seqbench.hookspecs", "seqbench.spec", "seqbench.plugins")),
    ("models and data", ("seqbench.data", "seqbench.tasks", "seqbench.cells", "seqbench.models")),
    ("running", ("seqbench.train", "seqbench.store", "seqbench.execute")),
    ("studies", ("seqbench.runs", "seqbench.sweep", "seqbench.studies", "seqbench.inspect")),
    ("reporting", ("seqbench.reporting",)),
    ("commands", ("seqbench.commands",)),
    ("cli", ("seqbench.cli", "seqbench.__main__", "seqbench")),
]


def layer_of(module: str) -> Optional[int]:
    """Index in ``LAYERS`` of ``module`` (a dotted name under ``seqbench``), or None outside it."""
    best: Optional[tuple[int, int]] = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    """Dotted name of the file ``path`` in the package folder ``root``, and whether it is a package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(imported module or object, line) for every seqbench import in ``tree``: relative or
    absolute, at module level or in a function; ``from seqbench.x import y`` gives ``seqbench.x.y``."""
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


def modules(root: Path) -> Iterator[tuple[Path, str, list[tuple[str, int]]]]:
    """Every module file under the package folder ``root`` (sorted), its dotted name and its imports."""
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(path, root)
        yield path, module, imported(ast.parse(path.read_text(encoding="utf-8")), module, is_package)


def resolve(target: str, names: set[str]) -> Optional[str]:
    """The module in ``names`` that an ``imported`` target names: itself, or the module holding
    the object it names (``seqbench.errors.UsageError`` → ``seqbench.errors``)."""
    while target and target not in names:
        target = target.rpartition(".")[0]
    return target or None
