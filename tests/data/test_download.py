"""Downloads against a loopback HTTP server: atomic, verified, never clobbering.

The server is ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (port 0) serving
a folder under ``tmp_path``; nothing here reaches the internet. Expected
checksums are computed with :mod:`hashlib` on the bytes the test writes.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import socket
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple

import pytest

from graphrec.data import ChecksumError, DatasetNotFoundError
from graphrec.data.download import DownloadError, download_file, extract_member, sha256_file
from graphrec.data.registry import DatasetSpec, LazyReader, RemoteFile, fetch, load
from tests.conftest import folder_digest

TRAIN = b"0 0 1\n1 1 2\n2 0 2\n"  # 3 users, 6 pairs
TEST = b"0 2\n1 0\n2 1\n"  # 3 pairs
CORRUPT_TRAIN = b"0 0 1\n1 1 2\n2 0 9\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    """Serves a folder; ``/truncated`` promises 1000 bytes and sends 10."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0 0 1\n1 1 ")
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Tuple[str, Path]]:
    """``(base_url, served_folder)``; the server thread is stopped at the end."""
    served = tmp_path / "served"
    served.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture()
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("GRAPHREC_DATA", raising=False)
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tiny_spec(urls: Dict[str, str], members: Optional[Dict[str, str]] = None) -> DatasetSpec:
    members = members or {}
    return DatasetSpec(
        name="tiny-download",
        folder="tiny",
        files=(
            RemoteFile("train.txt", urls["train.txt"], sha(TRAIN), len(TRAIN), members.get("train.txt")),
            RemoteFile("test.txt", urls["test.txt"], sha(TEST), len(TEST), members.get("test.txt")),
        ),
        reader=LazyReader(".readers.lightgcn", "read_lightgcn", name="tiny-download"),
        expected={"users": 3, "items": 3, "train": 6, "valid": 0, "test": 3},
    )


def listing(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- sha256 -----------------------------------------------------------------------

def test_sha256_file_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=1024) == sha(data)
    assert sha256_file(path) == sha(data)


# -- the registry downloading into the cache ------------------------------------------

def test_download_lands_in_cache_and_loads(server, cache: Path) -> None:
    base, served = server
    (served / "train.txt").write_bytes(TRAIN)
    (served / "test.txt").write_bytes(TEST)
    spec = tiny_spec({"train.txt": f"{base}/train.txt", "test.txt": f"{base}/test.txt"})
    dataset = load(spec)
    assert (dataset.num_users, dataset.num_items, len(dataset.train), len(dataset.test)) == (3, 3, 6, 3)
    assert (cache / "tiny" / "train.txt").read_bytes() == TRAIN
    assert (cache / "tiny" / "test.txt").read_bytes() == TEST
    assert listing(cache / "tiny") == ["test.txt", "train.txt"]  # no temporary files left
    # found in the cache from now on: no download needed
    assert len(load(spec, download=False).train) == 6


def test_corrupt_download_raises_and_leaves_nothing(server, cache: Path) -> None:
    base, served = server
    (served / "train.txt").write_bytes(CORRUPT_TRAIN)
    (served / "test.txt").write_bytes(TEST)
    folder = cache / "tiny"
    folder.mkdir(parents=True)
    (folder / "test.txt").write_bytes(TEST)  # the user already has a good test.txt
    before = folder_digest(folder)
    spec = tiny_spec({"train.txt": f"{base}/train.txt", "test.txt": f"{base}/test.txt"})
    with pytest.raises(ChecksumError) as info:
        load(spec)
    assert info.value.path == str(folder / "train.txt")
    assert info.value.actual_sha256 == sha(CORRUPT_TRAIN)
    assert not (folder / "train.txt").exists()
    assert listing(folder) == ["test.txt"]
    assert folder_digest(folder) == before


def test_download_file_never_replaces_a_good_file_with_bad_bytes(server, tmp_path: Path) -> None:
    base, served = server
    (served / "train.txt").write_bytes(CORRUPT_TRAIN)
    dest = tmp_path / "mine" / "train.txt"
    dest.parent.mkdir()
    dest.write_bytes(TRAIN)
    before = folder_digest(dest.parent)
    with pytest.raises(ChecksumError):
        download_file(f"{base}/train.txt", dest, sha256=sha(TRAIN))
    assert folder_digest(dest.parent) == before


def test_interrupted_download_leaves_nothing(server, tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "out" / "train.txt"
    with pytest.raises(DownloadError, match="truncated"):
        download_file(f"{base}/truncated", dest)
    assert listing(dest.parent) == []


def test_unreachable_url_raises_dataset_not_found(cache: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/train.txt"
    spec = tiny_spec({"train.txt": url, "test.txt": url.replace("train", "test")})
    with pytest.raises(DatasetNotFoundError) as info:
        load(spec, download=True)
    message = str(info.value)
    assert "download failed" in message
    assert url in message
    assert str(cache / "tiny") in message
    assert not (cache / "tiny").exists() or listing(cache / "tiny") == []


def test_http_error_raises_dataset_not_found(server, cache: Path) -> None:
    base, _ = server  # nothing is served: 404
    spec = tiny_spec({"train.txt": f"{base}/train.txt", "test.txt": f"{base}/test.txt"})
    with pytest.raises(DatasetNotFoundError, match="404"):
        load(spec)
    assert listing(cache / "tiny") == []


def test_only_missing_files_are_downloaded(server, cache: Path) -> None:
    base, served = server
    (served / "train.txt").write_bytes(TRAIN)  # test.txt is not served at all
    folder = cache / "tiny"
    folder.mkdir(parents=True)
    (folder / "test.txt").write_bytes(TEST)
    spec = tiny_spec({"train.txt": f"{base}/train.txt", "test.txt": f"{base}/test.txt"})
    assert len(load(spec).test) == 3
    assert listing(folder) == ["test.txt", "train.txt"]


# -- archives -------------------------------------------------------------------------

def _zip(path: Path, members: Dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_archive_members_are_extracted_and_the_archive_removed(server, cache: Path) -> None:
    base, served = server
    _zip(served / "tiny.zip", {"tiny/train.txt": TRAIN, "tiny/test.txt": TEST, "tiny/README": b"x"})
    url = f"{base}/tiny.zip"
    spec = tiny_spec({"train.txt": url, "test.txt": url}, {"train.txt": "tiny/train.txt", "test.txt": "tiny/test.txt"})
    assert len(load(spec).train) == 6
    assert listing(cache / "tiny") == ["test.txt", "train.txt"]
    assert (cache / "tiny" / "train.txt").read_bytes() == TRAIN


def test_corrupt_archive_member_leaves_nothing(server, cache: Path) -> None:
    base, served = server
    _zip(served / "tiny.zip", {"tiny/train.txt": CORRUPT_TRAIN, "tiny/test.txt": TEST})
    url = f"{base}/tiny.zip"
    spec = tiny_spec({"train.txt": url, "test.txt": url}, {"train.txt": "tiny/train.txt", "test.txt": "tiny/test.txt"})
    with pytest.raises(ChecksumError, match="train.txt"):
        fetch(spec)
    assert "train.txt" not in listing(cache / "tiny")
    assert not any(name.startswith(".") for name in listing(cache / "tiny"))


def test_extract_member_from_tar_gz(tmp_path: Path) -> None:
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("inner/test.txt")
        info.size = len(TEST)
        tar.addfile(info, io.BytesIO(TEST))
    dest = tmp_path / "out" / "test.txt"
    extract_member(archive, "inner/test.txt", dest, sha256=sha(TEST))
    assert dest.read_bytes() == TEST
    with pytest.raises(KeyError, match="absent.txt"):
        extract_member(archive, "inner/absent.txt", tmp_path / "out" / "absent.txt")
    assert listing(tmp_path / "out") == ["test.txt"]


def test_archive_without_the_member_raises_dataset_not_found(server, cache: Path) -> None:
    base, served = server
    _zip(served / "tiny.zip", {"other/train.txt": TRAIN, "other/test.txt": TEST})
    (served / "not-a-zip.zip").write_bytes(b"<html>moved</html>")
    for archive in ("tiny.zip", "not-a-zip.zip"):
        url = f"{base}/{archive}"
        spec = tiny_spec({"train.txt": url, "test.txt": url},
                         {"train.txt": "tiny/train.txt", "test.txt": "tiny/test.txt"})
        with pytest.raises(DatasetNotFoundError, match="unusable archive") as info:
            load(spec)
        assert url in str(info.value)
        assert listing(cache / "tiny") == []
