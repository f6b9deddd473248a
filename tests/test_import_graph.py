"""The package's imports run one way: no module imports, at any depth, one that imports it back
(lazy imports inside functions included)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "seqbench"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, names: set[str]) -> set[str]:
    """The seqbench modules ``path`` imports (relative imports resolved)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
            out |= {c for c in candidates if c in names}
    return out


def test_no_import_cycles():
    files = [p for p in PACKAGE.rglob("*.py")]
    names = {module_name(p) for p in files}
    graph = {module_name(p): imports(p, names) - {"seqbench"} for p in files}  # the package root re-exports
    cycles = []

    def visit(node, stack):
        for nxt in graph.get(node, ()):
            if nxt in stack:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, stack + [nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert not cycles, "import cycles: " + "; ".join(" → ".join(c) for c in cycles)
