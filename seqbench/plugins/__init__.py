"""The plugin host: the registry of cells, tasks, metrics and formats, building what plugins registered, scaffolding."""
