"""Built-in cells. Each module is an ordinary seqbench plugin registering its cells."""
