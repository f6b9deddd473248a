"""Commands are plugins: every built-in command registers through ``seqbench_register_commands``
in a module of its own, and a third-party plugin adds one the same way (``-p``)."""
from __future__ import annotations

import sys

from seqbench.cli import main
from seqbench.plugins.registry import Registry

from conftest import run_process, subprocess_env

BUILTIN = ["run", "horizon", "check", "speed", "list", "plugins", "generate", "eval", "inspect", "report", "plot",
           "compare"]


def seqbench_cli(*args):
    return run_process([sys.executable, "-m", "seqbench", *args], env=subprocess_env(), timeout=120)


def test_every_builtin_command_is_a_plugin_module_of_its_own():
    commands = Registry(entry_points=False).commands
    assert list(commands) == BUILTIN
    for name, entry in commands.items():
        assert entry.provider == f"seqbench.commands.{name}"
        assert callable(entry.obj) and callable(entry.extra["add_arguments"]) and entry.extra["help"]


def test_a_plugin_adds_a_command_with_dash_p():
    result = seqbench_cli("-p", "fixtures.hello_command", "hello", "World", "--times", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("hello World: ") and "cells" in lines[0]
    assert lines[0].endswith("plugins fixtures.hello_command")
    after = seqbench_cli("hello", "three", "-p", "fixtures.hello_command")  # -p after the command name
    assert after.returncode == 3 and after.stdout.startswith("hello three: "), after.stderr


def test_the_plugin_command_is_in_help_and_plugins():
    helped = seqbench_cli("-p", "fixtures.hello_command", "--help")
    assert helped.returncode == 0
    assert "hello" in helped.stdout and "greet NAME (a plugin's command)" in helped.stdout
    assert "hello" not in seqbench_cli("--help").stdout
    own = seqbench_cli("-p", "fixtures.hello_command", "hello", "--help")
    assert own.returncode == 0 and "Print a greeting" in own.stdout and "--times" in own.stdout
    listed = seqbench_cli("plugins", "-p", "fixtures.hello_command")
    row = next(line for line in listed.stdout.splitlines() if "fixtures.hello_command" in line)
    assert "commands: hello" in row and "-p" in row


def test_a_plugin_command_s_errors_are_one_line(capsys):
    assert main(["-p", "fixtures.hello_command", "hello", "x", "--times", "0"]) == 2
    assert capsys.readouterr().err == "seqbench: error: --times must be at least 1, got 0\n"
    try:
        main(["-p", "fixtures.hello_command", "hello"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.startswith("seqbench hello: error: the following arguments are required: NAME") and err.count("\n") == 1


def test_a_taken_command_name_names_both_plugins_and_the_builtin_keeps_it(capsys):
    assert main(["list", "-p", "fixtures.bad_commands"]) == 0
    captured = capsys.readouterr()
    assert "command 'list' is registered by both 'seqbench.commands.list' and 'fixtures.bad_commands' (-p); " \
           "keeping 'seqbench.commands.list'" in captured.err
    assert "the plugin's list ran" not in captured.out and "seqbench: cells, tasks" in captured.out


def test_a_command_whose_options_fail_is_skipped_in_one_line(capsys):
    assert main(["fine", "-p", "fixtures.bad_commands"]) == 0
    err = capsys.readouterr().err
    assert ("command 'broken' (plugin 'fixtures.bad_commands') failed to declare its options: ArgumentError: "
            "argument --x: conflicting option string: --x; command skipped") in err
    try:
        main(["broken", "-p", "fixtures.bad_commands"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "invalid choice: 'broken'" in capsys.readouterr().err


def test_a_plugin_that_fails_to_import_stops_before_parsing(capsys):
    assert main(["-p", "fixtures.no_such_fixture", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqbench: error: plugin 'fixtures.no_such_fixture' (-p) failed to import") and \
        err.count("\n") == 1
