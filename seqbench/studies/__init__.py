"""Questions asked of cells and trained models (speed, comparison, generalization, conformance, text); they return data and never format."""
