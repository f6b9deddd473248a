"""Where commands write: the table console, files given with ``-o``, the Ctrl-C line."""
from __future__ import annotations

import sys
from typing import Any, Optional


def stdout() -> Any:
    """Console for tables: wide when stdout is a file or pipe (rich would assume 80 columns)."""
    import os

    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=200 if piped else None)


def stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def write(text: str, output: Optional[str], what: str = "report") -> None:
    """``text`` to ``output`` (stdout when None), then one stderr line saying where it went;
    UsageError when it cannot be written."""
    from pathlib import Path

    from seqbench.errors import UsageError

    if not output:
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None
    print(f"{what}: wrote {output}", file=sys.stderr)


def interrupted(interrupt: KeyboardInterrupt, command: Optional[str] = None, file: str = "") -> int:
    """Ctrl-C: one stderr line saying where the finished work is (the interrupt's text: the run
    directory) and, for a ``command`` that resumes, the command that continues it; exit code 130."""
    run_dir = str(interrupt) or "the run directory"
    if command:
        line = f"finished trials are saved in {run_dir}; continue with: seqbench {command} --resume {run_dir}"
    else:
        line = f"finished rows are saved in {run_dir}/{file}"
    stderr().print(f"[yellow]interrupted[/]: {line}", highlight=False, soft_wrap=True)  # one line: copyable
    return 130
