"""The ``seqbench`` command: builds its parser from the commands plugins register
(``seqbench_register_commands``; the built-in ones are ``seqbench.commands.*``), runs the one
asked for, and turns errors into one line and an exit code.

Imports nothing heavy at module level, so ``seqbench --help`` is instant; torch is imported
only by the commands that need it. Bad input prints one line and exits 2; a run with a
trial that ended in an error exits 1; Ctrl-C exits 130 after saving finished trials.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn, Optional, Sequence

from seqbench._version import __version__
from seqbench.errors import SeqbenchError

DESCRIPTION = "Compare recurrent cells and a Transformer on long-dependency sequence tasks."


def one_line(message: str) -> str:
    """``message`` on one line: control characters and line breaks escaped (``\\n``, ``\\x1e``)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


class _PreParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)  # the full parser reports it


def requested_plugins(argv: Sequence[str]) -> list[str]:
    """The ``-p`` values anywhere in ``argv``, read before the parser exists, so that a plugin
    given with -p can add a command; [] when they cannot be read (the full parser says why)."""
    from seqbench.commands.options import add_plugins

    pre = _PreParser(add_help=False, allow_abbrev=False)
    add_plugins(pre)
    try:
        return pre.parse_known_args(list(argv))[0].plugins
    except ValueError:
        return []


def build_parser(registry: Any = None) -> Parser:
    """The parser of ``seqbench`` and of every command ``registry`` holds (default: the
    plugins loaded without -p). A command whose options cannot be declared is reported and
    left out."""
    from seqbench.commands.options import add_plugins

    if registry is None:
        from seqbench.plugins.registry import Registry

        registry = Registry()
    parser = Parser(prog="seqbench", description=DESCRIPTION)
    add_plugins(parser)
    parser.add_argument("--version", action="version", version=f"seqbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for entry in registry.commands.values():
        add_arguments = entry.extra["add_arguments"]
        try:
            add_arguments(Parser(prog=f"seqbench {entry.name}"))  # a trial: a broken plugin must not stop seqbench
        except Exception as exc:  # noqa: BLE001
            registry.on_problem(f"command '{entry.name}' (plugin '{entry.provider}') failed to declare its "
                                f"options: {type(exc).__name__}: {one_line(exc)}; command skipped")
            continue
        command = sub.add_parser(entry.name, help=entry.extra["help"] or None, description=entry.description or None)
        add_plugins(command)
        add_arguments(command)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        from seqbench.plugins.registry import Registry

        plugins = requested_plugins(argv)
        registry = Registry(plugins)
        parser = build_parser(registry)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        args.plugins = plugins  # -p before or after the command name: the plugins the registry loaded
        _ignore_file_size_signal()
        return registry.commands[args.command].obj(args, registry)
    except SeqbenchError as exc:
        print(f"seqbench: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seqbench: interrupted", file=sys.stderr)
        return 130


def _ignore_file_size_signal() -> None:
    """Past a file size limit (ulimit -f) a write fails with an error line instead of killing us."""
    import signal

    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
