"""Named corpora: the real download code against a local HTTP server (success, checksum
mismatch, interrupted transfer and resume, offline), archives and official splits."""
from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seqbench.data import corpus as corpus_mod
from seqbench.data import download
from seqbench.data.corpus import load_corpus
from seqbench.data.download import SOURCES, Source, fetch
from seqbench.errors import UsageError

TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 40).encode()


class Server:
    """Serves ``files`` (path → bytes) with Range support; ``drop[path] = n`` makes the next n
    responses for that path stop halfway and close the connection."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, int] = {}
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range", "")))
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.drop.get(self.path, 0) > 0:
                    outer.drop[self.path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQBENCH_OFFLINE", raising=False)
    monkeypatch.setattr(download.time, "sleep", lambda s: None)
    corpus_mod.clear_memory_cache()
    yield tmp_path / "cache"
    corpus_mod.clear_memory_cache()


def add_source(monkeypatch, server, name: str, data: bytes, sha=None, **kw) -> Source:
    server.files[f"/{name}"] = data
    source = Source(name, server.url(f"/{name}"), f"{name}.bin", len(data),
                    hashlib.sha256(data).hexdigest() if sha is None else sha, **kw)
    monkeypatch.setitem(SOURCES, name, source)
    return source


def downloads(cache) -> list[str]:
    folder = cache / "downloads"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_download_verifies_and_caches(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT)
    path = fetch(source, progress=False)
    assert path.read_bytes() == TEXT and downloads(cache) == ["tiny.bin"]
    assert fetch(source, progress=False) == path and len(server.requests) == 1  # cached: no second request
    corpus = load_corpus("tiny")
    assert corpus.text == TEXT.decode() and corpus.name == "tiny" and corpus.splits is None
    assert corpus.sha256 == hashlib.sha256(TEXT).hexdigest()


def test_checksum_mismatch_leaves_nothing_in_cache(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT, sha="0" * 64)
    with pytest.raises(UsageError, match="SHA-256 .* expected 0{64}.*deleted"):
        fetch(source, progress=False)
    assert downloads(cache) == []


def test_wrong_size_is_refused_before_hashing(server, monkeypatch, cache):
    server.files["/short"] = TEXT[:-10]
    source = Source("short", server.url("/short"), "short.bin", len(TEXT), None)
    with pytest.raises(UsageError, match="size"):
        fetch(source, progress=False)
    assert downloads(cache) == []


def test_dropped_connection_is_resumed_with_range(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT)
    server.drop["/tiny"] = 1
    assert fetch(source, progress=False).read_bytes() == TEXT
    assert [r for _, r in server.requests] == ["", f"bytes={len(TEXT) // 2}-"]
    assert downloads(cache) == ["tiny.bin"]


def test_interrupted_run_keeps_part_and_next_run_resumes(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT)
    server.drop["/tiny"] = 1
    monkeypatch.setattr(download, "RETRIES", 1)
    with pytest.raises(UsageError, match="interrupted.*run again to resume"):
        fetch(source, progress=False)
    assert downloads(cache) == ["tiny.bin.part"]  # never a half-written file under the real name
    assert (cache / "downloads" / "tiny.bin.part").stat().st_size == len(TEXT) // 2
    assert fetch(source, progress=False).read_bytes() == TEXT
    assert server.requests[-1][1] == f"bytes={len(TEXT) // 2}-" and downloads(cache) == ["tiny.bin"]


def test_offline_refuses_and_says_where_to_put_the_file(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT)
    target = cache / "downloads" / "tiny.bin"
    with pytest.raises(UsageError) as info:
        fetch(source, offline=True, progress=False)
    assert str(target) in str(info.value) and source.url in str(info.value) and "\n" not in str(info.value)
    monkeypatch.setenv("SEQBENCH_OFFLINE", "1")
    with pytest.raises(UsageError, match="offline"):
        load_corpus("tiny")
    assert server.requests == []
    target.parent.mkdir(parents=True)
    target.write_bytes(TEXT)  # put there by hand: used (and verified) offline
    assert load_corpus("tiny").text == TEXT.decode()


def test_no_network_message_names_path_and_url(monkeypatch, cache):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = Source("gone", f"http://127.0.0.1:{port}/gone.txt", "gone.txt", 10, None)
    with pytest.raises(UsageError, match=f"put http://127.0.0.1:{port}/gone.txt at .*gone.txt by hand"):
        fetch(source, progress=False)
    assert downloads(cache) == []


def test_bad_file_in_cache_is_reported_not_used(server, monkeypatch, cache):
    source = add_source(monkeypatch, server, "tiny", TEXT)
    (cache / "downloads").mkdir(parents=True)
    (cache / "downloads" / "tiny.bin").write_bytes(TEXT[::-1])
    with pytest.raises(UsageError, match="failed verification.*delete it"):
        fetch(source, progress=False)


def test_zip_with_split_files_gives_the_official_split(server, monkeypatch):
    from seqbench.tasks.charlm import CharLMTask

    parts = {"train": "a b c d e f g h " * 30, "val": "h g f e d c b a " * 5, "test": "abc abc " * 7}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split, text in parts.items():
            z.writestr(f"wt/wiki.{split}.raw", text)
    add_source(monkeypatch, server, "wt", buffer.getvalue(), members={s: f"wt/wiki.{s}.raw" for s in parts})
    task = CharLMTask(8, corpus="wt")
    assert task.corpus.splits == tuple(len(t) for t in parts.values())
    assert [task.split_text(s) for s in ("train", "val", "test")] == list(parts.values())


def test_bytes_corpus_with_fixed_split_sizes(server, monkeypatch):
    data = bytes(range(256)) * 4  # every byte value: read as Latin-1, one character per byte
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("enwik", data)
    add_source(monkeypatch, server, "enwik", buffer.getvalue(), member="enwik", split_chars=(800, 112, 112),
               encoding="latin-1")
    corpus = load_corpus("enwik")
    assert corpus.text.encode("latin-1") == data and corpus.splits == (800, 112, 112)


def test_ptb_char_tarball_is_read_as_plain_text(server, monkeypatch):
    files = {s: f"t h e _ c a t _ {s[0]}\n s a t \n" for s in ("train", "valid", "test")}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split, text in files.items():
            info = tarfile.TarInfo(f"./simple-examples/data/ptb.char.{split}.txt")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    members = {"train": "simple-examples/data/ptb.char.train.txt", "val": "simple-examples/data/ptb.char.valid.txt",
               "test": "simple-examples/data/ptb.char.test.txt"}
    add_source(monkeypatch, server, "ptb", buffer.getvalue(), members=members, transform="ptb-char")
    corpus = load_corpus("ptb")
    assert corpus.text == "the cat t\nsat\nthe cat v\nsat\nthe cat t\nsat\n"
    assert corpus.splits == (14, 14, 14)


def test_unknown_corpus_name_suggests_the_closest():
    with pytest.raises(UsageError, match="did you mean 'tinyshakespeare'"):
        load_corpus("tinyshakespear")


def test_registry_has_the_named_corpora_with_known_checksums_or_marked_unknown():
    assert {"tinyshakespeare", "enwik8", "text8", "ptb-char", "wikitext-2"} <= set(SOURCES)
    for source in SOURCES.values():
        assert source.url.startswith(("http://", "https://")) and source.size and source.size > 0
        assert source.sha256 is None or (len(source.sha256) == 64 and int(source.sha256, 16) >= 0)
    assert SOURCES["enwik8"].split_chars == (90_000_000, 5_000_000, 5_000_000)


def test_cli_keeps_a_corpus_name_and_refuses_offline(server, monkeypatch, capsys, tmp_path):
    from seqbench import cli

    assert cli.main(["run", "--tasks", "charlm", "--corpus", "tinyshakespear", "-q", "--out", str(tmp_path)]) == 2
    assert "did you mean 'tinyshakespeare'" in capsys.readouterr().err
    add_source(monkeypatch, server, "tiny", TEXT)
    monkeypatch.setenv("SEQBENCH_OFFLINE", "0")  # --offline sets it to 1: restored after the test
    assert cli.main(["run", "--tasks", "charlm", "--corpus", "tiny", "--offline", "-q", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "downloads are off" in err and err.count("\n") == 1 and server.requests == []
