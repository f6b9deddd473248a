"""The ``seqbench`` commands, one module each, every one a built-in plugin that registers its
parser and its function through ``seqbench_register_commands`` (as a third-party command
would). Shared option groups: ``options``; shared output helpers: ``output``."""
