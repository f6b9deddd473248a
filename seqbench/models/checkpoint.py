"""Checkpoints: a trained trial's weights and everything needed to rebuild and use it.

``seqbench run --save`` writes ``checkpoints/<trial>.pt`` in the run directory (the trial key
with ``|`` replaced by ``-``, e.g. ``lstm-charlm-64-0.pt``): a dict saved with
``torch.save`` holding the ``state_dict``, the trial spec (cell, width, layers, dropout,
cell and task parameters, ...), the model's input/output sizes, the vocabulary and corpus
fingerprint (token tasks over a corpus), seqbench/torch/Python versions and the trial's
results row. Written atomically (a temporary file, then ``os.replace``).

``load_checkpoint`` reads it with ``map_location`` (the CPU by default), so a checkpoint
written on a GPU loads on a machine without one; ``rebuild_model`` builds the model again
through the registry (plugin cells included, given the same ``-p`` plugins) and loads the
weights.
"""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Union

from seqbench.errors import UsageError

FORMAT = "seqbench-checkpoint"
VERSION = 1
DIRNAME = "checkpoints"


def checkpoint_name(trial_key: str) -> str:
    """File name of a trial's checkpoint: ``lstm|charlm|64|0`` → ``lstm-charlm-64-0.pt``."""
    return trial_key.replace("|", "-") + ".pt"


def save_checkpoint(path: Union[str, Path], model: Any, spec: Any, task: Any, row: dict) -> Path:
    """Write ``model``'s checkpoint for trial ``spec`` on ``task`` to ``path`` atomically."""
    import torch

    from seqbench._version import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "state_dict": {k: v.detach() for k, v in model.state_dict().items()},
        "spec": _plain(spec.to_dict()),
        "model": {"cell": spec.cell, "hidden": spec.hidden, "layers": spec.layers, "dropout": spec.dropout,
                  "cell_params": _plain(spec.cell_params), "input_kind": task.input_kind,
                  "input_size": task.input_size, "output_size": task.output_size,
                  "backbone": getattr(spec, "backbone", "plain")},
        "task": {"name": spec.task, "length": spec.length, "params": _plain(spec.task_params)},
        "vocab": list(getattr(task, "vocab", []) or []),
        "corpus": _corpus_info(task),
        "versions": {"seqbench": __version__, "torch": str(torch.__version__), "python": platform.python_version()},
        "row": _plain(row),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _corpus_info(task: Any) -> Optional[dict]:
    corpus = getattr(task, "corpus", None)
    if corpus is None:
        return None
    return {"name": corpus.name, "sha256": corpus.sha256, "chars": corpus.chars, "source": corpus.source}


def _plain(value: Any) -> Any:
    """JSON-plain copy (numbers, strings, lists, dicts), loadable with ``weights_only=True``."""
    return json.loads(json.dumps(value, default=str))


def load_checkpoint(path: Union[str, Path], map_location: Any = "cpu") -> dict:
    """The checkpoint dict at ``path``, its tensors on ``map_location`` (CPU by default)."""
    import torch

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; give a checkpoint file (a run's checkpoints/*.pt)")
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file: one line
        raise UsageError(f"cannot read checkpoint {path}: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is not a seqbench checkpoint")
    if data.get("version", 0) > VERSION:
        raise UsageError(f"checkpoint {path} has format version {data['version']}; this seqbench reads "
                         f"up to {VERSION} (upgrade seqbench)")
    return data


def rebuild_model(checkpoint: dict, registry: Any = None, device: Any = "cpu") -> Any:
    """The trained model of ``checkpoint``, weights loaded, on ``device``, in eval mode."""
    from seqbench.models.model import build_model
    from seqbench.plugins.registry import Registry

    registry = registry or Registry()
    info = checkpoint["model"]
    shape = SimpleNamespace(input_kind=info["input_kind"], input_size=info["input_size"],
                            output_size=info["output_size"], seq_len=checkpoint["task"]["length"])
    model = build_model(shape, registry.get("cell", info["cell"]), info["hidden"], info["layers"],
                        info["dropout"], info["cell_params"], info.get("backbone", "plain"))
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        raise UsageError(f"checkpoint weights do not fit cell '{info['cell']}' as registered now: "
                         f"{' '.join(str(exc).split())[:200]}") from None
    return model.to(device).eval()


__all__ = ["save_checkpoint", "load_checkpoint", "rebuild_model", "checkpoint_name"]
