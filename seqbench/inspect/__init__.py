"""seqbench inspect: why a cell succeeds or fails — gradient flow over time and the gates at work."""
