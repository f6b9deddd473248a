"""Docs stay in step with the code: every hook is documented, the README's test command is CI's."""
from __future__ import annotations

import re
from pathlib import Path

from seqbench import hookspecs

ROOT = Path(__file__).resolve().parent.parent


def test_every_hook_is_in_the_plugin_docs():
    docs = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in vars(hookspecs) if name.startswith("seqbench_")]
    assert len(hooks) >= 8
    for name in hooks:
        assert f"### `{name}(" in docs, f"{name} is missing from docs/plugins.md"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"```bash\n(python3 -m venv .*?)\n```", readme)
    assert len(commands) == 2, "README has exactly two set-up commands"
    run_cmd, test_cmd = commands
    assert run_cmd.endswith("seqbench run")
    test_part = test_cmd.split(" && ", 2)[2]  # after creating and activating the venv
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_part in ci.splitlines(), f"{test_part!r} not in .ci/run"
