"""Models built from registered cells: embedding, backbone, head; parameter budgets; checkpoints; computed FLOPs and memory."""
