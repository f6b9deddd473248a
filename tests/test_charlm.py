"""The embedded corpus (seqbench.data.corpus) and the character-level language-model task."""
from __future__ import annotations

import collections
import hashlib
import io
import json
import math
import sysconfig
import tokenize
from pathlib import Path

import pytest
import torch

from seqbench.data import corpus as corpus_mod
from seqbench.data.corpus import build_stdlib_text, load_corpus
from seqbench.errors import UsageError
from seqbench.tasks.charlm import CharLMTask

PROSE = ("The quick brown fox jumps over the lazy dog. A recurrent network reads one character "
         "at a time and keeps a summary of the past in its state; a transformer looks back at "
         "every position it has seen. ")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private SEQBENCH_CACHE for this module, and no corpus remembered from elsewhere."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("seqbench-cache")
        mp.setenv("SEQBENCH_CACHE", str(path))
        corpus_mod.clear_memory_cache()
        yield path
        corpus_mod.clear_memory_cache()


@pytest.fixture(scope="module")
def stdlib(cache):
    """The default corpus, built cold once for the module (a few seconds)."""
    return load_corpus()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def unique_chars(n: int) -> str:
    """A text whose i-th character has id i (distinct, increasing code points)."""
    return "".join(chr(0x4E00 + i) for i in range(n))


# ---------------------------------------------------------------------------- the corpus


def test_default_corpus_is_large_english_prose(stdlib):
    assert stdlib.name == "python-stdlib"
    assert stdlib.bytes >= 1_000_000 and stdlib.chars >= 1_000_000
    assert stdlib.chars <= corpus_mod.MAX_CHARS
    assert stdlib.sha256 == hashlib.sha256(stdlib.text.encode("utf-8")).hexdigest()
    top = [c for c, _ in collections.Counter(stdlib.text).most_common(5)]
    assert top[0] == " " and "e" in top[:3]
    words = collections.Counter(stdlib.text.lower().split())
    assert {"the", "of", "to", "is", "a"} <= {w for w, _ in words.most_common(12)}
    assert not [line for line in stdlib.text.split("\n") if line.lstrip().startswith(">>>")]  # no doctests
    assert stdlib.meta["python"] and stdlib.meta["builder_version"] == corpus_mod.BUILDER_VERSION


def test_default_corpus_is_deterministic_and_cached_on_disk(stdlib, cache):
    assert stdlib.info["cache"] == "written"
    path = Path(stdlib.info["cache_path"])
    assert path.parent.parent == cache and path.is_file()
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # written atomically

    text, meta = build_stdlib_text()  # a second cold build
    assert meta["sha256"] == stdlib.sha256 and text == stdlib.text

    corpus_mod.clear_memory_cache()
    again = load_corpus()
    assert again.info["cache"] == "hit" and again.info["build_seconds"] is None
    assert again.sha256 == stdlib.sha256 and again.meta == stdlib.meta
    assert load_corpus() is again  # then from memory


def test_corrupt_cache_is_rebuilt(monkeypatch, cache):
    monkeypatch.setattr(corpus_mod, "MAX_CHARS", 50_000)  # a small corpus, a separate cache key
    corpus_mod.clear_memory_cache()
    first = load_corpus()
    assert first.info["cache"] == "written" and 40_000 < first.chars <= 50_000
    path = Path(first.info["cache_path"])
    data = json.loads(path.read_text(encoding="utf-8"))
    data["text"] = data["text"].replace("e", "E")
    path.write_text(json.dumps(data), encoding="utf-8")
    corpus_mod.clear_memory_cache()
    rebuilt = load_corpus()
    assert rebuilt.info["cache"] == "written" and rebuilt.text == first.text
    corpus_mod.clear_memory_cache()


def test_unwritable_cache_still_gives_the_corpus(monkeypatch, tmp_path):
    monkeypatch.setattr(corpus_mod, "MAX_CHARS", 20_000)
    monkeypatch.setenv("SEQBENCH_CACHE", str(write(tmp_path / "a-file", "not a directory")))
    corpus_mod.clear_memory_cache()
    corpus = load_corpus()
    assert corpus.info["cache"] == "unwritable" and 15_000 < corpus.chars <= 20_000
    corpus_mod.clear_memory_cache()


def test_comment_scanner_agrees_with_tokenize():
    tricky = (b'x = "# not a comment"  # a comment\n'
              b"y = '''\n# inside a string\n'''  # after ''' and \"\"\"\n"
              b's = "escaped \\" # still a string"\n'
              b"t = r'raw\\' # string'\n"
              b"# whole line\n    # indented\n")
    root = Path(sysconfig.get_paths()["stdlib"])
    for source in [tricky] + [(root / name).read_bytes() for name in ("tokenize.py", "textwrap.py")]:
        expected = [(tok.start[0], not tok.line[:tok.start[1]].strip(), tok.string)
                    for tok in tokenize.tokenize(io.BytesIO(source).readline) if tok.type == tokenize.COMMENT]
        assert list(corpus_mod.comments(source)) == expected


def test_file_pieces_keep_prose_and_drop_the_rest():
    source = b'''#!/usr/bin/env python
# -*- coding: utf-8 -*-
"""Module summary.

    >>> 1 + 1
    2

After the example.
"""
# ------------------------------------
# A comment that goes
# on for two lines.
x = 1  # an inline remark
# result = compute(x, y)
# noqa: E501


def f():
    """Function docstring."""
'''
    assert corpus_mod.file_pieces(source) == [
        "Module summary.\n\nAfter the example.",
        "A comment that goes\non for two lines.",
        "an inline remark",
        "Function docstring.",
    ]


def test_custom_corpus_from_a_text_file(tmp_path):
    path = write(tmp_path / "tiny.txt", "héllo wörld\n" * 10)
    corpus = load_corpus(str(path))
    assert corpus.name == "tiny.txt" and corpus.text == "héllo wörld\n" * 10
    assert corpus.sha256 == hashlib.sha256(corpus.text.encode()).hexdigest()
    assert corpus.bytes == len(corpus.text.encode()) > corpus.chars
    assert load_corpus(path) is corpus  # read once per process


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "not-utf8"])
def test_bad_corpus_files_are_usage_errors_naming_the_path(tmp_path, kind):
    path = tmp_path / f"corpus-{kind}"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b"caf\xe9 latin-1 text\n")
    with pytest.raises(UsageError) as info:
        load_corpus(str(path))
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    with pytest.raises(UsageError):
        CharLMTask(4, corpus=str(path))


# ---------------------------------------------------------------------------- the task


def test_splits_are_contiguous_and_training_never_touches_validation(tmp_path):
    n = 300
    task = CharLMTask(8, corpus=str(write(tmp_path / "u.txt", unique_chars(n))))
    assert task.data.tolist() == list(range(n))  # id == position in the text
    (t0, t1), (v0, v1), (s0, s1) = (task.splits[k] for k in ("train", "val", "test"))
    assert (t0, t1, v1, s1) == (0, v0, s0, n) and v1 - v0 == s1 - s0 == 15
    assert task.split_text("train") + task.split_text("val") + task.split_text("test") == task.corpus.text

    x, y = task.sample(4096, torch.Generator().manual_seed(0), "cpu")
    assert x.shape == y.shape == (4096, 8)
    assert torch.equal(y, x + 1)  # contiguous windows, y is x shifted by one
    assert int(x.min()) == 0 and int(y.max()) == t1 - 1  # the whole train split, nothing after it

    for split, batches in (("val", task.eval_batches(100, 2, "cpu")), ("test", task.test_batches(100, 2, "cpu"))):
        lo, hi = task.splits[split]
        xs, ys = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
        assert xs.shape[0] == (hi - lo - 1) // 8
        assert torch.equal(ys, xs + 1) and int(xs.min()) == lo and int(ys.max()) < hi
        assert xs[:, 0].tolist() == [lo + 8 * k for k in range(xs.shape[0])]  # non-overlapping


def test_windows_of_the_default_corpus(stdlib):
    task = CharLMTask(64)
    assert task.corpus.sha256 == stdlib.sha256 and task.input_size == task.output_size == len(task.vocab)
    assert task.vocab == sorted(set(stdlib.text))
    x, y = task.sample(8, torch.Generator().manual_seed(1), "cpu")
    train = task.split_text("train")
    for i in range(8):
        window = task.decode(x[i]) + task.decode(y[i, -1:])
        assert task.decode(y[i]) == window[1:] and window in train
    assert task.encode(task.decode(x[0])) == x[0].tolist()
    with pytest.raises(ValueError, match="not in the vocabulary"):
        task.encode("\x00")

    info = json.loads(json.dumps(task.describe()))  # as written to config.json
    assert info["corpus"]["name"] == "python-stdlib" and info["corpus"]["sha256"] == stdlib.sha256
    assert info["corpus"]["bytes"] == stdlib.bytes and info["vocab_size"] == len(task.vocab)
    assert 3.5 < info["baseline_bits_per_char"] < 6 and "bits per char" in info["solved"]


def test_eval_batches_are_deterministic_and_evenly_spread(tmp_path):
    task = CharLMTask(4, corpus=str(write(tmp_path / "u.txt", unique_chars(2000))))
    lo, hi = task.splits["val"]
    available = (hi - lo - 1) // 4
    first, second = task.eval_batches(10, 4, "cpu"), task.eval_batches(10, 4, "cpu")
    assert [b[0].shape[0] for b in first] == [4, 4, 2]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second))
    starts = torch.cat([b[0][:, 0] for b in first]).tolist()
    assert starts == [lo + 4 * (k * available // 10) for k in range(10)]


def test_baseline_is_the_unigram_cross_entropy(tmp_path):
    text = "aaabbbcaab" + "abcaz" + "cccaa"  # train 10, validation 5 ('z' unseen in train), test 5
    task = CharLMTask(2, corpus=str(write(tmp_path / "t.txt", text)), val_fraction=0.25, test_fraction=0.25)
    assert (task.split_text("train"), task.split_text("val")) == ("aaabbbcaab", "abcaz")
    vocab = sorted(set(text))
    counts = collections.Counter("aaabbbcaab")
    expected = -sum(math.log((counts[c] + 1) / (10 + len(vocab))) for c in "abcaz") / 5
    assert task.baseline == pytest.approx(expected, rel=1e-12)


def test_loss_and_eval_sums(tmp_path):
    task = CharLMTask(4, corpus=str(write(tmp_path / "p.txt", PROSE * 20)))
    x, y = task.eval_batches(3, 3, "cpu")[0]
    perfect = torch.nn.functional.one_hot(y, task.output_size).float() * 50.0
    sums = task.eval_sums(perfect, y)
    assert sums["accuracy"] == (12, 12) and sums["loss"][1] == 12 and sums["loss"][0] < 1e-6
    uniform = torch.zeros(3, 4, task.output_size)
    assert float(task.loss(uniform, y)) == pytest.approx(math.log(task.output_size))
    assert not task.solved({"loss": 1.5}) and task.solved({"loss": 1.3})  # 2 bits per char = 1.386 nats


def test_bad_lengths_and_fractions(tmp_path):
    path = str(write(tmp_path / "p.txt", PROSE * 5))  # about 1000 chars: validation holds ~50
    with pytest.raises(ValueError, match="too long for the validation split"):
        CharLMTask(200, corpus=path)
    for bad in ({"val_fraction": 0}, {"test_fraction": 1.5}, {"val_fraction": 0.6, "test_fraction": 0.5},
                {"val_fraction": "0.1"}, {"solved_bpc": -1}):
        with pytest.raises(ValueError):
            CharLMTask(4, corpus=path, **bad)


def test_registry_loads_the_plugin_and_a_tiny_trial_runs(tmp_path):
    import seqbench
    from seqbench.plugins.registry import Registry
    from seqbench.plugins.factories import build_task

    problems: list[str] = []
    registry = Registry(["seqbench.tasks.charlm"], on_problem=problems.append)
    assert problems == [] and registry.tasks["charlm"].provider == "seqbench.tasks.charlm"
    small = write(tmp_path / "small.txt", PROSE * 40)
    with pytest.raises(UsageError, match="task 'charlm' at length 5000"):
        build_task(registry.tasks["charlm"], 5000, {"corpus": str(small)})
    with pytest.raises(UsageError, match="does not exist"):
        build_task(registry.tasks["charlm"], 8, {"corpus": str(tmp_path / "nope.txt")})

    frame = seqbench.run("lstm", "charlm", [32], steps=5, hidden=16, batch=4, eval_examples=8, eval_every=5,
                         out=tmp_path / "runs", plugins=["seqbench.tasks.charlm"],
                         task_params={"charlm": {"corpus": str(small)}})
    row = frame.iloc[0]
    assert row["status"] == "ok"
    assert row["perplexity"] == pytest.approx(math.exp(row["loss"]))
    assert row["bits_per_token"] == pytest.approx(row["loss"] / math.log(2))
    config = json.loads((Path(frame.attrs["run_dir"]) / "config.json").read_text())
    described = config["tasks"]["charlm|32"]["corpus"]
    assert described["name"] == "small.txt" and described["sha256"] == load_corpus(str(small)).sha256
