"""Perplexity and bits per character of a language-model checkpoint (``seqbench eval``).

Without ``corpus``: the checkpoint's own corpus, rebuilt through its task (the SHA-256 of the
text must equal the one recorded at training, else a UsageError), scored on the ``test`` or
``val`` split exactly as the trial scored it: the same non-overlapping windows of T
characters, each from a fresh state. By default as many windows as the trial evaluated
(``eval_examples``, evenly spaced), so ``--split val`` reproduces the trial's reported loss;
``examples`` changes that.

With ``corpus`` (a corpus name or a text file): a named corpus is split as the task splits
it and scored on ``split``; a file is scored whole (every window, unless ``examples``).
Characters outside the model's vocabulary cannot be scored: they are dropped from the text
and counted (``oov_chars`` in the result), never silently mapped to another character.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional, Union

from seqbench.errors import UsageError

SPLITS = ("test", "val")


def evaluate_checkpoint(checkpoint: Union[str, Path], corpus: Optional[str] = None, split: str = "test",
                        examples: Optional[int] = None, batch: Optional[int] = None, device: str = "cpu",
                        registry: Any = None, offline: Optional[bool] = None) -> Any:
    """A one-row DataFrame: ``loss`` (nats/char), ``perplexity``, ``bits_per_char``,
    ``accuracy``, the characters scored and the out-of-vocabulary characters dropped."""
    import pandas as pd
    import torch

    from seqbench.models.checkpoint import rebuild_model
    from seqbench.spec.config import TrialSpec, resolve_device
    from seqbench.data.corpus import DEFAULT_CORPUS, corpus_names, load_corpus
    from seqbench.studies.sampling import lm_checkpoint
    from seqbench.plugins.registry import Registry
    from seqbench.plugins.factories import build_task
    from seqbench.tasks.base import TokenTask
    from seqbench.tasks.charlm import windows
    from seqbench.train.loop import EvalSet, evaluate

    if split not in SPLITS:
        raise UsageError(f"unknown split '{split}'; use test or val")
    if examples is not None and (isinstance(examples, bool) or not isinstance(examples, int) or examples < 1):
        raise UsageError(f"examples must be a positive integer, got {examples!r}")
    data = lm_checkpoint(checkpoint)
    spec = TrialSpec.from_dict(data["spec"])
    registry = registry or Registry()
    device = resolve_device(device)
    batch = batch or spec.batch
    model = rebuild_model(data, registry, device)
    vocab, T = data["vocab"], spec.length
    entry = registry.get("task", spec.task)
    oov, scored_on = 0, split
    if corpus is None:
        task = build_task(entry, T, spec.task_params)
        recorded = (data.get("corpus") or {}).get("sha256")
        found = getattr(getattr(task, "corpus", None), "sha256", None)
        if recorded and found != recorded:
            raise UsageError(f"the corpus '{data['corpus']['name']}' is not the text this model was trained on "
                             f"(SHA-256 {found} now, {recorded} at training; e.g. another Python version for "
                             f"{DEFAULT_CORPUS}); give --corpus to score another text")
        if list(getattr(task, "vocab", [])) != list(vocab):
            raise UsageError("the task's vocabulary differs from the checkpoint's")
        batches = task.split_batches(split, examples or spec.eval_examples, batch, device)
        stats = evaluate(model, task, EvalSet(batches))
        name = data["corpus"]["name"] if data.get("corpus") else spec.task
    else:
        if corpus in corpus_names():
            other = build_task(entry, T, {**spec.task_params, "corpus": corpus})
            text, name = other.split_text(split), corpus
        else:
            found_corpus = load_corpus(corpus, offline=offline)
            text, name, scored_on = found_corpus.text, found_corpus.name, "whole file"
        stoi = {c: i for i, c in enumerate(vocab)}
        ids = [stoi[c] for c in text if c in stoi]
        oov = len(text) - len(ids)
        if len(ids) < T + 1:
            raise UsageError(f"corpus '{name}' has {len(ids)} characters in the model's vocabulary "
                             f"({oov} others dropped); a window needs T + 1 = {T + 1}")
        batches = windows(torch.tensor(ids, dtype=torch.long, device=device), 0, len(ids), T, examples, batch, device)
        stats = evaluate(model, TokenTask(T), EvalSet(batches))  # next-character cross-entropy, every step
    ce = stats["loss"]
    count = sum(x.shape[0] for x, _ in batches)
    row = {"checkpoint": str(checkpoint) if not isinstance(checkpoint, dict) else "", "cell": spec.cell,
           "length": T, "corpus": name, "split": scored_on, "windows": count, "chars": count * T,
           "loss": ce, "perplexity": math.exp(min(ce, 700.0)), "bits_per_char": ce / math.log(2),
           "accuracy": stats.get("accuracy"), "oov_chars": oov}
    return pd.DataFrame([row])

