"""The built-in formats of ``seqbench report --format`` other than HTML: ``table`` (the terminal
tables as text), ``markdown``, ``csv`` and ``json`` (the summary), registered through the
``seqbench_register_report_formats`` hook, as a plugin's would be. Each ``render(results, run)``
gets a ``seqbench.reporting.run_report.RunReport``.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

from seqbench.hookspecs import hookimpl
from seqbench.reporting.table import markdown_tables, print_tables


def environment_markdown(env: Mapping[str, Any], description: str = "") -> str:
    """A header naming the machine and versions a report was measured on."""
    git = env.get("git") or {}
    commit = f"{git.get('commit', '?')[:12]}{' (dirty)' if git.get('dirty') else ''}" if git else "unknown"
    lines = [f"{description}\n" if description else "",
             f"- measured: {env.get('time', '?')} on `{env.get('hostname', '?')}`",
             f"- machine: {env.get('cpu', '?')}, {env.get('cpu_count', '?')} CPUs, "
             f"{env.get('torch_threads', '?')} torch threads, device `{env.get('device', '?')}`"
             + (f" ({env['gpu']}, CUDA {env.get('cuda')})" if env.get("gpu") else ""),
             f"- software: seqbench {env.get('seqbench', '?')} (commit {commit}), torch {env.get('torch', '?')}, "
             f"Python {env.get('python', '?')}, {env.get('platform', '?')}", _execution_line(env.get("execution")), ""]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _execution_line(execution: Optional[Mapping[str, Any]]) -> Optional[str]:
    """How the trials were executed, when not one after another in the process itself."""
    if not execution:
        return None
    threads = execution.get("threads_per_trial")
    each = f", {threads} torch thread{'s' if threads != 1 else ''} each" if threads else ""
    if execution.get("executor") == "ray":
        where = execution.get("ray_address") or "a local Ray instance"
        return f"- executed: Ray tasks on {where}, {execution.get('cpus_per_trial')} CPUs per trial{each}"
    if (execution.get("jobs") or 1) > 1:
        return f"- executed: {execution['jobs']} worker processes{each}"
    return None


def records_json(frame: Any) -> str:
    """A DataFrame as an indented JSON list of records."""
    return json.dumps(json.loads(frame.to_json(orient="records")), indent=2) + "\n"


def render_table(results: Any, run: Any) -> str:
    """The terminal tables as plain text (``seqbench report`` prints them in colour)."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    print_tables(run.tables(), Console(file=buffer, width=160))
    return buffer.getvalue()


def render_markdown(results: Any, run: Any) -> str:
    """Markdown tables under a header naming the run, the machine and the versions."""
    from pathlib import Path

    header = f"# seqbench report: {Path(run.run_dir).name}\n\n"
    if run.environment:
        header += environment_markdown(run.environment, run.config.get("description", ""))
    return header + "\n" + markdown_tables(run.tables())


def render_csv(results: Any, run: Any) -> str:
    """The summary (``run_tables.summarize``): an interval's bounds are empty where there is none
    (fewer than 3 seeds) and ``X_ci`` says why."""
    return run.summary().to_csv(index=False)


def render_json(results: Any, run: Any) -> str:
    """The summary as records: an interval's bounds are null where there is none and ``X_ci`` says why."""
    return records_json(run.summary())


@hookimpl
def seqbench_register_report_formats(register: Any) -> None:
    register("table", render_table, suffix=".txt", description="the terminal tables as plain text")
    register("markdown", render_markdown, suffix=".md", description="Markdown tables with the machine and versions")
    register("csv", render_csv, suffix=".csv",
             description="the summary (per column: mean, seeds n, std, 95% CI lo/hi and its method or why none) as CSV")
    register("json", render_json, suffix=".json", description="the summary as a JSON list of records")
