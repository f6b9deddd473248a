"""The package's imports have no cycle: no module imports, at any depth, one that imports it back
(relative or absolute, lazy imports inside functions included). ``tests/test_layers.py`` rules out
cycles between layers; this test also catches one inside a layer."""
from __future__ import annotations

import shutil
from pathlib import Path

from seqbench.architecture import modules, resolve

PACKAGE = Path(__file__).resolve().parent.parent / "seqbench"


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module → the seqbench modules it imports (the package root left out: it re-exports)."""
    found = {module: targets for _, module, targets in modules(root)}
    names = set(found)
    return {module: {resolve(t, names) for t, _ in targets} - {"seqbench", module, None}
            for module, targets in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, stack + [nxt])
        done.add(node)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return found


def test_no_import_cycles():
    graph = import_graph()
    assert sum(map(len, graph.values())) > 100  # absolute imports are read
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" → ".join(c) for c in found)


def test_a_cycle_inside_a_layer_fails(tmp_path):
    copy = shutil.copytree(PACKAGE, tmp_path / "seqbench", ignore=shutil.ignore_patterns("__pycache__"))
    assert "seqbench.store.log" in import_graph(copy)["seqbench.store.rundir"]  # rundir uses the log
    with open(copy / "store" / "log.py", "a", encoding="utf-8") as handle:
        handle.write("def f():\n    from seqbench.store import rundir\n")
    assert cycles(import_graph(copy)) == [["seqbench.store.log", "seqbench.store.rundir", "seqbench.store.log"]]
