"""Character-level language modelling on a text corpus, trained with truncated BPTT windows.

The corpus (default ``python-stdlib``: the docstrings and comments of the standard library,
about 2 MB of English, see ``seqbench.data.corpus``; a named public corpus such as
``tinyshakespeare`` or ``enwik8``, downloaded on first use; or any UTF-8 text file) is split
contiguously into train, validation and test parts, in that order (``val_fraction`` and
``test_fraction``, except for corpora with official splits: enwik8 and text8 90M/5M/5M
characters, ptb-char and wikitext-2 their train/valid/test files). The vocabulary is the
sorted set of the characters of the whole text, so no character of the corpus is unknown.

An example is a window of ``T + 1`` consecutive characters: ``x = w[0:T]``, ``y = w[1:T+1]``,
next-character prediction at every position. Training windows start anywhere in the train
split and never reach into the validation text; evaluation cuts the validation split into
consecutive non-overlapping windows (``test_batches`` does the same for the test split). Each
window starts from a fresh state: context never crosses a window boundary.

Loss: mean cross-entropy in nats per character (bits per char = loss / ln 2); accuracy is the
next-character accuracy. Baseline: the unigram model, character frequencies of the train
split with add-one smoothing (so characters unseen in train keep a probability), scored on
every character of the validation split.

Held-out sets: by default the whole validation and test splits (``held_out_examples = None``);
``eval_examples`` takes that many windows, evenly spaced. The baseline is also measured on the
test windows (``describe``'s ``baseline_measured``).

Solved: a language model has no natural "solved"; here it means "bits per char below 2"
(``solved_bpc``), a quality target whose ``steps_to_solve`` compares how fast cells learn.
On the default corpus (Python 3.11) the unigram baseline is 4.70 bits per char and count-based
n-gram models (interpolated Witten-Bell) bottom out at 2.24 (order 5; order 6 is worse), so
going below 2 takes context that no short n-gram captures: the model must learn words and
phrases, not just letter statistics. For scale, a 158k-parameter LSTM (hidden 128, T = 64)
is at 2.5 after 45 s on two CPU cores and still improving. The threshold is calibrated on
the default corpus; pass ``solved_bpc`` for another text.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional

from seqbench.data.corpus import Corpus, DEFAULT_CORPUS, load_corpus
from seqbench.hookspecs import hookimpl
from seqbench.tasks.base import TokenTask

SOLVED_BPC = 2.0
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}

_encoded: dict[str, tuple[list[str], Any]] = {}  # corpus sha256 → (vocab, ids): once per process


def encode_corpus(corpus: Corpus) -> tuple[list[str], Any]:
    """The vocabulary (sorted characters) and the whole text as an int64 tensor of ids."""
    import torch

    if corpus.sha256 not in _encoded:
        vocab = sorted(set(corpus.text))
        table = torch.tensor([ord(c) for c in vocab], dtype=torch.int32)
        if ord(vocab[-1]) < 256:  # one byte per character (ASCII, Latin-1: text8, enwik8): less memory
            codes = torch.frombuffer(bytearray(corpus.text.encode("latin-1")), dtype=torch.uint8)
            lookup = torch.zeros(256, dtype=torch.long)
            lookup[table.long()] = torch.arange(len(vocab))
            ids = lookup[codes.long()]
        else:
            codes = torch.frombuffer(bytearray(corpus.text.encode("utf-32-le")), dtype=torch.int32)
            ids = torch.searchsorted(table, codes).long()
        _encoded[corpus.sha256] = (vocab, ids)
    return _encoded[corpus.sha256]


MIN_SPLIT_CHARS = 10_000  # a held-out split below this gives noisy numbers (a warning)


def windows(data: Any, lo: int, hi: int, T: int, examples: Optional[int], batch_size: int,
            device: Any) -> list[tuple[Any, Any]]:
    """Non-overlapping windows of ``data[lo:hi]`` as (input, next-character target) batches,
    deterministic. The span holds ``(hi - lo - 1) // T`` consecutive windows (each target is the
    next window's first input); when fewer than that are asked for (``examples``; None: all),
    they are taken evenly spaced over the span."""
    import torch

    available = (hi - lo - 1) // T
    count = available if examples is None else min(max(examples, 0), available)
    chosen = torch.arange(count, dtype=torch.long) * available // max(count, 1)
    offsets = torch.arange(T + 1, device=device)
    batches = []
    for first in range(0, count, batch_size):
        starts = lo + chosen[first:first + batch_size].to(device).unsqueeze(1) * T
        window = data[starts + offsets]
        batches.append((window[:, :-1], window[:, 1:]))
    return batches


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise ValueError(f"charlm: {name} must be a number between 0 and 1, got {value!r}")
    return float(value)


class CharLMTask(TokenTask):
    any_length = True  # defined at every T: a model trained at one T can be evaluated at another
    solved_metric = "loss"
    solved_higher_is_better = False
    baseline_description = ("unigram model: add-one smoothed train-split character frequencies, "
                            "on the validation split")
    held_out_examples = None  # the whole split

    def __init__(self, length: int, corpus: str = DEFAULT_CORPUS, val_fraction: float = 0.05,
                 test_fraction: float = 0.05, solved_bpc: float = SOLVED_BPC) -> None:
        super().__init__(length)
        self.val_fraction = _fraction("val_fraction", val_fraction)
        self.test_fraction = _fraction("test_fraction", test_fraction)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("charlm: val_fraction + test_fraction must be below 1 (the rest is the train split)")
        if isinstance(solved_bpc, bool) or not isinstance(solved_bpc, (int, float)) or not solved_bpc > 0:
            raise ValueError(f"charlm: solved_bpc must be a positive number, got {solved_bpc!r}")
        self.corpus = load_corpus(str(corpus))  # UsageError for a bad file
        self.vocab, self.data = encode_corpus(self.corpus)
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        self.input_size = self.output_size = len(self.vocab)
        self.solved_bpc = float(solved_bpc)
        self.solved_threshold = self.solved_bpc * math.log(2)

        n = len(self.data)
        if self.corpus.splits:  # the corpus's official split
            n_train, n_val, n_test = self.corpus.splits
        else:
            n_val, n_test = int(n * self.val_fraction), int(n * self.test_fraction)
            n_train = n - n_val - n_test
        self.splits = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
        for name, (lo, hi) in self.splits.items():
            if hi - lo < length + 1:
                raise ValueError(f"charlm: length {length} is too long for the {SPLIT_NAMES[name]} split of corpus "
                                 f"'{self.corpus.name}' ({hi - lo} characters; a window needs T + 1): "
                                 f"use a length below {hi - lo} or a larger corpus or fraction")
        self._on_device: dict[str, Any] = {}
        self._baseline: Optional[float] = None

    def held_out_size(self, examples: Optional[int] = None) -> Optional[int]:
        """Windows of the validation split evaluated for ``examples`` (None: all of them)."""
        available = self.held_out_sizes()["val"][1]
        return available if examples is None else min(max(examples, 0), available)

    def held_out_sizes(self) -> dict[str, tuple[int, int]]:
        """(characters, non-overlapping windows of T + 1) of the validation and test splits:
        ``sweep.validate`` refuses a split that cannot fill one batch and warns below
        ``MIN_SPLIT_CHARS``."""
        return {name: (hi - lo, (hi - lo - 1) // self.length)
                for name, (lo, hi) in self.splits.items() if name != "train"}

    # -- text <-> ids -------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; a character outside the vocabulary raises ValueError."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary of "
                             f"corpus '{self.corpus.name}'") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of token ids (a list or a 1-D tensor)."""
        return "".join(self.vocab[int(i)] for i in ids)

    def split_text(self, name: str) -> str:
        """The text of one split: ``train``, ``val`` or ``test``."""
        lo, hi = self.splits[name]
        return self.corpus.text[lo:hi]

    # -- data ---------------------------------------------------------------------------

    def _data_on(self, device: Any) -> Any:
        import torch

        key = str(torch.device(device))
        if key not in self._on_device:
            self._on_device[key] = self.data.to(device)
        return self._on_device[key]

    def sample(self, batch_size: int, generator: Any, device: Any) -> tuple[Any, Any]:
        """Random windows of the train split: starts uniform on [0, n_train - T - 1]."""
        import torch

        T, (lo, hi) = self.length, self.splits["train"]
        data = self._data_on(device)
        starts = torch.randint(lo, hi - T, (batch_size, 1), generator=generator, device=device)
        windows = data[starts + torch.arange(T + 1, device=device)]
        return windows[:, :-1], windows[:, 1:]

    def split_batches(self, split: str, examples: int, batch_size: int, device: Any) -> list[tuple[Any, Any]]:
        """Up to ``examples`` non-overlapping windows of a split, in batches (see ``windows``)."""
        lo, hi = self.splits[split]
        return windows(self._data_on(device), lo, hi, self.length, examples, batch_size, device)

    def eval_batches(self, examples: int, batch_size: int, device: Any) -> list[tuple[Any, Any]]:
        """The validation split (see ``split_batches``)."""
        return self.split_batches("val", examples, batch_size, device)

    def test_batches(self, examples: int, batch_size: int, device: Any) -> list[tuple[Any, Any]]:
        """The test split (see ``split_batches``); for final reports only, never for tuning."""
        return self.split_batches("test", examples, batch_size, device)

    # -- reference points ---------------------------------------------------------------

    @property
    def baseline(self) -> float:
        """Unigram cross-entropy (nats per char) of the validation split."""
        if self._baseline is None:
            v0, v1 = self.splits["val"]
            log_p = self.unigram_log_probs()
            self._baseline = float(-log_p[self.data[v0:v1]].mean())
        return self._baseline

    def unigram_log_probs(self) -> Any:
        """Log-probabilities of the unigram baseline: add-one smoothed train-split frequencies."""
        import torch

        (t0, t1), V = self.splits["train"], len(self.vocab)
        counts = torch.bincount(self.data[t0:t1], minlength=V).double()
        return torch.log((counts + 1.0) / (counts.sum() + V))

    def baseline_output(self, x: Any) -> Any:
        return self.unigram_log_probs().float().expand(x.shape[0], x.shape[1], -1)

    @property
    def solved_description(self) -> str:
        return f"bits per char < {self.solved_bpc:g} (loss < {self.solved_threshold:.4f} nats)"

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "corpus": self.corpus.describe(),
            "vocab_size": len(self.vocab),
            "splits": {name: hi - lo for name, (lo, hi) in self.splits.items()},
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "baseline_bits_per_char": self.baseline / math.log(2),
            "solved_bpc": self.solved_bpc,
        }


@hookimpl
def seqbench_register_tasks(register):
    register("charlm", CharLMTask,
             description="character-level language model on a text corpus (default: the Python "
                         "stdlib's docstrings and comments): next-char cross-entropy")
