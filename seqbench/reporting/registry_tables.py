"""The tables of ``seqbench list`` (what is registered) and ``seqbench plugins`` (who provides it)."""
from __future__ import annotations

from typing import Any

from seqbench.reporting.table import TableData

LISTED = ("cell", "task", "metric", "report_format")  # the kinds ``seqbench list`` shows


def list_table(registry: Any) -> TableData:
    """Every registered cell, task, metric and report format with the plugin that provides it
    (and, for a cell, whether it is in the default set and its group)."""
    groups = ", ".join(registry.cell_groups())
    table = TableData("seqbench: cells, tasks, metrics and report formats", "default: the cells a run compares "
                      f"when --cells is not given; --cells also takes a group: {groups}",
                      ["kind", "name", "default", "group", "provided by", "description"])
    for kind in LISTED:
        for entry in registry.entries[kind].values():
            cell = kind == "cell"
            default = ("yes" if entry.extra.get("default") else "no") if cell else ""
            table.add([kind.replace("report_", ""), entry.name, default, entry.extra.get("group", "") if cell else "",
                       entry.provider, entry.description])
    return table


def plugins_table(registry: Any) -> TableData:
    """Every loaded plugin: version, source, location and what it contributes."""
    table = TableData("seqbench plugins", "source: builtin, entry point, SEQBENCH_PLUGINS or -p",
                      ["plugin", "version", "source", "location", "contributes"])
    for info in registry.plugins.values():
        parts = registry.contributions(info.name)
        what = "; ".join(f"{kind.replace('_', ' ')}s: {', '.join(names)}" for kind, names in parts.items())
        table.add([info.name, info.version, info.source, info.location, what or "–"])
    return table
