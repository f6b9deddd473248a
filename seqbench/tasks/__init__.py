"""Built-in tasks. Each module is an ordinary seqbench plugin registering one task."""
