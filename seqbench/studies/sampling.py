"""Sampling text from a character-level language model checkpoint (``seqbench generate``).

The prompt is fed once; then one character at a time, each fed back with the model's state:
recurrent cells carry their hidden state, the Transformer its key/value cache. Sampling is
from ``softmax(logits / temperature)``, optionally restricted to the ``top_k`` most likely
characters (``temperature = 0``: always the most likely one), with a ``torch.Generator``
seeded by ``seed``: the same checkpoint, prompt, options and seed give the same text.

Context beyond training: a cell whose state carries a position (the Transformer's
``(position, caches)``) was trained on windows of T characters, and its sinusoidal
positions and attention span are untested past T. So its context is capped at T: when the
cache reaches T positions, the last T/2 characters are encoded again from position 0 and
sampling goes on from there (a sliding window refreshed every T/2 characters; a prompt
longer than T is cut to its last T characters). Recurrent cells carry their state through
any length, as in char-rnn.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Optional, TextIO, Union

from seqbench.errors import UsageError

DEFAULT_PROMPT = "\n"


def lm_checkpoint(checkpoint: Union[str, Path, dict]) -> dict:
    """A loaded checkpoint of a character-level language model, or a UsageError saying why not."""
    from seqbench.models.checkpoint import load_checkpoint

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    info, vocab = data["model"], data.get("vocab") or []
    if not vocab or info["input_kind"] != "tokens" or info["output_size"] != len(vocab):
        where = "" if isinstance(checkpoint, dict) else f" {checkpoint}"
        raise UsageError(f"checkpoint{where} was trained on task '{data['task']['name']}', not a character "
                         f"language model: generate and eval need a charlm checkpoint")
    return data


def encode_prompt(prompt: str, vocab: list[str]) -> list[int]:
    """Ids of ``prompt``; characters outside the vocabulary raise a UsageError naming them."""
    stoi = {c: i for i, c in enumerate(vocab)}
    unknown = sorted({c for c in prompt if c not in stoi})
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise UsageError(f"prompt character(s) {shown} not in the model's vocabulary of {len(vocab)} "
                         f"characters")
    return [stoi[c] for c in prompt]


def sample(checkpoint: Union[str, Path, dict], prompt: Optional[str] = None, length: int = 300,
           temperature: float = 1.0, top_k: Optional[int] = None, seed: int = 0, device: str = "cpu",
           registry: Any = None) -> Iterator[str]:
    """Yield ``length`` sampled characters, one at a time, continuing ``prompt`` (see module)."""
    import torch

    from seqbench.models.checkpoint import rebuild_model
    from seqbench.spec.config import resolve_device

    data = lm_checkpoint(checkpoint)
    vocab = data["vocab"]
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise UsageError(f"length must be an integer >= 0, got {length!r}")
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature < 0:
        raise UsageError(f"temperature must be a number >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise UsageError(f"top-k must be a positive integer, got {top_k!r}")
    if not prompt:
        prompt = DEFAULT_PROMPT if DEFAULT_PROMPT in vocab else vocab[0]
    history = encode_prompt(prompt, vocab)
    device = resolve_device(device)
    model = rebuild_model(data, registry, device)
    window = int(data["task"]["length"])
    generator = torch.Generator(device=device).manual_seed(int(seed))

    def encode(ids: list[int]) -> tuple[Any, Any]:
        logits, state = model(torch.tensor([ids], dtype=torch.long, device=device), None)
        return logits[0, -1], state

    with torch.inference_mode():
        logits, state = encode(history[-window:])
        positional = _position(state) is not None
        if not positional and len(history) > window:  # recurrent: the whole prompt goes through the state
            logits, state = encode(history)
        for _ in range(length):
            next_id = _pick(logits, temperature, top_k, generator)
            history.append(next_id)
            yield vocab[next_id]
            if positional and _position(state) >= window:
                logits, state = encode(history[-max(window // 2, 1):])
            else:
                out, state = model(torch.tensor([[next_id]], dtype=torch.long, device=device), state)
                logits = out[0, -1]


def _position(state: Any) -> Optional[int]:
    """The position a state carries (``(position, caches)``, as the Transformer's), else None."""
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], int):
        return state[0]
    return None


def _pick(logits: Any, temperature: float, top_k: Optional[int], generator: Any) -> int:
    import torch

    if temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def generate(checkpoint: Union[str, Path, dict], prompt: Optional[str] = None, length: int = 300,
             temperature: float = 1.0, top_k: Optional[int] = None, seed: int = 0, device: str = "cpu",
             stream: Optional[TextIO] = None, registry: Any = None) -> str:
    """The ``length`` characters sampled after ``prompt`` (the prompt itself not included).

    With ``stream`` (e.g. ``sys.stdout``) each character is also written and flushed as it
    is sampled. Raises UsageError for a checkpoint that is not a character language model,
    a prompt character outside its vocabulary, or bad options.
    """
    out = []
    for char in sample(checkpoint, prompt, length, temperature, top_k, seed, device, registry):
        out.append(char)
        if stream is not None:
            stream.write(char)
            stream.flush()
    return "".join(out)


def run_samples(run_dir: Union[str, Path], frame: Any, length: int, prompt: str = "The ",
                temperature: float = 0.8, seed: int = 0, registry: Any = None) -> list[tuple[str, str]]:
    """``(trial, prompt + sample)`` for each saved language-model checkpoint of a run (for
    ``sample = N`` in a run's configuration); other checkpoints are skipped."""
    samples = []
    if "checkpoint" not in frame:
        return samples
    for _, row in frame.iterrows():
        name = row.get("checkpoint")
        if not isinstance(name, str) or not name or row.get("status") != "ok":
            continue
        try:
            data = lm_checkpoint(Path(run_dir) / name)
            start = prompt if all(c in data["vocab"] for c in prompt) else None
            text = generate(data, start, length, temperature, None, seed, "cpu", registry=registry)
        except UsageError:
            continue
        samples.append((str(row["trial"]), (start or "") + text))
    return samples
