"""Docs stay in step with the code: every hook is documented, the README's test command is CI's, the
architecture picture is the code's."""
from __future__ import annotations

import importlib.util
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


def test_the_architecture_picture_is_the_code():
    spec = importlib.util.spec_from_file_location("docs_architecture", ROOT / "docs" / "architecture.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert "flowchart" in script.committed(doc) and "| `cells/` |" in script.committed(doc)
    assert not script.is_stale(doc), "docs/architecture.md is stale: run python docs/architecture.py"
    # a new folder-to-folder import changes the picture
    assert script.is_stale(doc.replace("  m_train --> m_store\n", ""))
    # line counts are not checked
    assert not script.is_stale(re.sub(r"\| (\d+) \|$", lambda m: f"| {int(m[1]) + 1} |", doc, flags=re.M))
