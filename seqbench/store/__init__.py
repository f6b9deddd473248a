"""Where results live: run directories (``rundir``), their append-only CSV files (``log``)
and the one-writer lock (``lock``)."""
from seqbench.store.lock import RunLock
from seqbench.store.log import RowLog, atomic_write_text
from seqbench.store.rundir import (CONFIG_JSON, CURVES_CSV, ENVIRONMENT_JSON, FINISHED, RESULTS_CSV, SCALING_CSV, SPEED_CSV, RunDir, load_run, read_frame, read_rows, rows_to_frame)

__all__ = ["CONFIG_JSON", "CURVES_CSV", "ENVIRONMENT_JSON", "FINISHED", "RESULTS_CSV", "SCALING_CSV", "SPEED_CSV",
           "RowLog", "RunDir", "RunLock", "atomic_write_text", "load_run", "read_frame", "read_rows", "rows_to_frame"]
