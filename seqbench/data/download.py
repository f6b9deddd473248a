"""Named public corpora: where they come from, and a careful downloader.

``fetch(source)`` returns the path of a source's file in the cache
(``$SEQBENCH_CACHE/downloads/``), downloading it on first use:

- into ``<file>.part`` only, resumed with an HTTP ``Range`` request when a ``.part`` is
  already there (from an interrupted run, or an earlier attempt of this one: a dropped
  connection is retried ``RETRIES`` times, each resuming where the last one stopped);
- then checked (size, and SHA-256 where it is known) and moved into place with
  ``os.replace``: the cache never holds a half-written or unverified file. A file whose
  checksum does not match is deleted and the error says so;
- never when offline (``offline=True``, ``--offline`` or ``SEQBENCH_OFFLINE=1``), and when the
  network fails the one-line error says where to put the file by hand.

A rich progress bar goes to stderr. ``SOURCES`` is a plain dict, so tests point a source at
a local server.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from seqbench._version import __version__
from seqbench.errors import UsageError

RETRIES = 3  # attempts per fetch; each resumes the .part file
CHUNK = 1 << 16
TIMEOUT_S = 30.0
USER_AGENT = f"seqbench/{__version__} (corpus download)"


def cache_dir() -> Path:
    """``$SEQBENCH_CACHE``, else the user's cache directory + ``seqbench``."""
    if os.environ.get("SEQBENCH_CACHE"):
        return Path(os.environ["SEQBENCH_CACHE"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "seqbench"



@dataclass(frozen=True)
class Source:
    """One downloadable file and how a corpus is read from it.

    ``members`` maps the task's splits (``train``, ``val``, ``test``) to files inside an
    archive; an empty dict means the text is the whole file (or the archive's only member,
    ``member``). ``split_chars`` fixes split sizes in characters (enwik8, text8: 90M/5M/5M);
    otherwise the task's fractions apply. ``encoding`` ``latin-1`` reads bytes as characters
    0–255 (enwik8). ``sha256`` is None where no published checksum could be found: then only
    the size is checked and the README says so.
    """

    name: str
    url: str
    filename: str
    size: Optional[int]
    sha256: Optional[str]
    description: str = ""
    licence: str = ""
    member: Optional[str] = None  # the one file to read from an archive
    members: dict = field(default_factory=dict)  # split -> archive member
    split_chars: Optional[tuple] = None  # (train, val, test) sizes in characters
    encoding: str = "utf-8"
    transform: Optional[str] = None  # "ptb-char": space-separated characters, "_" = space


SOURCES: dict[str, Source] = {
    "tinyshakespeare": Source(
        "tinyshakespeare",
        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        "tinyshakespeare-input.txt", 1_115_394,
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "40,000 lines of Shakespeare (Karpathy's char-rnn)", "public-domain text; char-rnn repo MIT"),
    "enwik8": Source(
        "enwik8", "http://mattmahoney.net/dc/enwik8.zip", "enwik8.zip", 36_445_475,
        "547994d9980ebed1288380d652999f38a14fe291a6247c157c3d33d4932534bc",
        "first 10^8 bytes of an English Wikipedia XML dump (Hutter Prize)",
        "Wikipedia text (CC BY-SA / GFDL)", member="enwik8",
        split_chars=(90_000_000, 5_000_000, 5_000_000), encoding="latin-1"),
    "text8": Source(
        "text8", "http://mattmahoney.net/dc/text8.zip", "text8.zip", 31_344_016,
        None,  # no published SHA-256 found (only the size, 31,344,016 bytes, is widely quoted)
        "enwik8 cleaned to lowercase a-z and space, 10^8 characters", "Wikipedia text (CC BY-SA / GFDL)",
        member="text8", split_chars=(90_000_000, 5_000_000, 5_000_000)),
    "ptb-char": Source(
        "ptb-char", "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz", "simple-examples.tgz",
        34_869_662,
        None,  # no published SHA-256 found (the size, 34,869,662 bytes, is widely quoted)
        "Penn Treebank, Mikolov's character-level version", "Penn Treebank: LDC licence, 'free for research "
        "purposes' per the archive's README",
        members={"train": "simple-examples/data/ptb.char.train.txt",
                 "val": "simple-examples/data/ptb.char.valid.txt",
                 "test": "simple-examples/data/ptb.char.test.txt"},
        transform="ptb-char"),
    "wikitext-2": Source(
        "wikitext-2", "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip",
        "wikitext-2-raw-v1.zip", 4_721_645,
        "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
        "WikiText-2, raw (untokenized) version", "CC BY-SA 3.0",
        members={"train": "wikitext-2-raw/wiki.train.raw", "val": "wikitext-2-raw/wiki.valid.raw",
                 "test": "wikitext-2-raw/wiki.test.raw"}),
}


def is_offline(offline: Optional[bool] = None) -> bool:
    """``offline`` if given, else whether ``SEQBENCH_OFFLINE`` is set to something true."""
    if offline is not None:
        return offline
    return os.environ.get("SEQBENCH_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def download_dir() -> Path:
    return cache_dir() / "downloads"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(source: Source, *, offline: Optional[bool] = None, progress: bool = True) -> Path:
    """The verified file of ``source`` in the cache, downloaded first if needed (see module)."""
    target = download_dir() / source.filename
    by_hand = f"put {source.url} at {target} by hand"
    if target.is_file():
        _verify(source, target, delete=False, by_hand=by_hand)
        return target
    if is_offline(offline):
        raise UsageError(f"corpus '{source.name}' is not downloaded and downloads are off (--offline / "
                         f"SEQBENCH_OFFLINE); {by_hand}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the cache folder {target.parent}: {exc.strerror}") from None
    import http.client  # here, not at module level: loading the charlm task must stay quick
    import urllib.error

    part = target.with_name(target.name + ".part")
    error: Optional[str] = None
    for attempt in range(RETRIES):
        try:
            _download(source.url, part, source.size, progress, source.name)
            error = None
            break
        except _Incomplete as exc:
            error = str(exc)
            time.sleep(min(0.2 * (attempt + 1), 1.0))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise UsageError(f"cannot download corpus '{source.name}' ({reason}); {by_hand}, or run again "
                             f"to resume") from None
    if error is not None:
        raise UsageError(f"download of corpus '{source.name}' interrupted {RETRIES} times ({error}); run "
                         f"again to resume from {part}, or {by_hand}")
    _verify(source, part, delete=True, by_hand=by_hand)
    os.replace(part, target)
    return target


class _Incomplete(Exception):
    """The connection ended before the whole file arrived (the .part file is kept)."""


def _download(url: str, part: Path, size: Optional[int], progress: bool, name: str) -> None:
    """Append the rest of ``url`` to ``part`` (a Range request when ``part`` is not empty)."""
    import http.client
    import urllib.request

    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    have = part.stat().st_size if part.is_file() else 0
    if size is not None and have > size:  # not a prefix of the right file: start again
        part.unlink()
        have = 0
    if size is not None and have == size:
        return
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if have and response.status != 206:  # the server ignored the range: start from zero
            have = 0
        total = size  # what the server says it sends decides whether the transfer was cut short
        if response.headers.get("Content-Length"):
            total = have + int(response.headers["Content-Length"])
        columns = (TextColumn(f"{name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
            task = bar.add_task("download", total=total, completed=have)
            with open(part, "ab" if have else "wb") as f:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, ValueError, http.client.HTTPException) as exc:  # IncompleteRead, reset
                        raise _Incomplete(f"{type(exc).__name__} after {f.tell():,} bytes") from None
                    if not block:
                        break
                    f.write(block)
                    bar.advance(task, len(block))
                got = f.tell()
    if total is not None and got < total:
        raise _Incomplete(f"connection closed after {got:,} of {total:,} bytes")


def _verify(source: Source, path: Path, *, delete: bool, by_hand: str) -> None:
    """Check size and SHA-256; a bad file is deleted (``delete``) and a UsageError raised."""
    got_size = path.stat().st_size
    problem = None
    if source.size is not None and got_size != source.size:
        problem = f"size {got_size:,} bytes, expected {source.size:,}"
    elif source.sha256 is not None:
        digest = file_sha256(path)
        if digest != source.sha256:
            problem = f"SHA-256 {digest}, expected {source.sha256}"
    if problem is None:
        return
    if delete:
        path.unlink()
        raise UsageError(f"download of corpus '{source.name}' from {source.url} failed verification ({problem}); "
                         f"the file was deleted")
    raise UsageError(f"cached file {path} of corpus '{source.name}' failed verification ({problem}); "
                     f"delete it to download again, or {by_hand}")
