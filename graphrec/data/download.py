"""Fetching dataset files: streamed, checksummed, published atomically.

Contract shared by every function here: a file appears under its final name
only once it is complete and (when a checksum is known) verified. Bytes are
streamed into a temporary file in the destination folder (same filesystem, so
the final ``os.replace`` is atomic); any failure -- network error, checksum
mismatch, interruption -- removes the temporary file and leaves the final name
as it was, including a file the user already had there.

Only the standard library (``urllib``) and ``tqdm`` are used.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import IO, BinaryIO, Iterator, Optional, Tuple, Union

from tqdm.auto import tqdm

from ..atomic import publish, staging_file
from .errors import ChecksumError

PathLike = Union[str, "os.PathLike[str]"]

#: seconds to wait for a connection or for the next chunk of bytes
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20
_USER_AGENT = "graphrec-dataset-registry (Python urllib)"


class DownloadError(OSError):
    """A file could not be fetched (network down, host unreachable, HTTP error)."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(f"could not download {url}: {reason}")
        self.url = url
        self.reason = reason


def sha256_file(path: PathLike, *, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of a file, read in chunks so memory stays constant."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_hashing(
    source: BinaryIO, target: IO[bytes], *, total: Optional[int], desc: str, progress: Optional[bool]
) -> Tuple[str, int]:
    """Copy ``source`` into ``target`` chunk by chunk; return the sha256 and count of the bytes."""
    digest = hashlib.sha256()
    count = 0
    # progress=None lets tqdm decide: a bar on a terminal, silence in logs and CI
    disable = None if progress is None else not progress
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=disable, leave=False) as bar:
        for block in iter(lambda: source.read(_CHUNK), b""):
            digest.update(block)
            target.write(block)
            count += len(block)
            bar.update(len(block))
    return digest.hexdigest(), count


def _check(dest: Path, expected_sha256: Optional[str], actual_sha256: str) -> None:
    if expected_sha256 is not None and actual_sha256 != expected_sha256.lower():
        raise ChecksumError(dest, expected_sha256, actual_sha256)


def download_file(
    url: str,
    dest: PathLike,
    *,
    sha256: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Optional[bool] = None,
) -> Path:
    """Fetch ``url`` into ``dest``; verify ``sha256`` (when given) before publishing.

    Raises :class:`DownloadError` when the server cannot be reached or answers
    with an HTTP error, and :class:`ChecksumError` (naming ``dest``) when the
    received bytes differ from ``sha256``. In both cases ``dest`` is untouched.
    """
    dest = Path(dest)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with staging_file(dest) as handle:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                actual, received = _copy_hashing(response, handle, total=total, desc=dest.name, progress=progress)
        except (OSError, http.client.HTTPException, ValueError) as error:
            # OSError covers URLError (HTTP errors, refused connections), timeouts
            # and resets; HTTPException a malformed response; ValueError a bad URL
            raise DownloadError(url, error) from error
        if total is not None and received != total:
            # http.client reports a connection closed early as a short read, not an error
            raise DownloadError(url, f"connection closed after {received:,} of {total:,} bytes (truncated)")
        _check(dest, sha256, actual)
        publish(handle, dest)
    return dest


def _open_member(archive: Path, member: str) -> "contextlib.AbstractContextManager[BinaryIO]":
    """A binary stream of ``member`` inside a zip or tar archive (any compression)."""
    if zipfile.is_zipfile(archive):
        zip_file = zipfile.ZipFile(archive)
        try:
            stream = zip_file.open(member)
        except KeyError:
            zip_file.close()
            raise KeyError(f"{archive} has no member {member!r}") from None
        return _closing_both(stream, zip_file)
    if tarfile.is_tarfile(archive):
        tar_file = tarfile.open(archive)
        try:
            stream = tar_file.extractfile(member)
        except KeyError:
            stream = None
        if stream is None:
            tar_file.close()
            raise KeyError(f"{archive} has no regular file {member!r}")
        return _closing_both(stream, tar_file)
    raise ValueError(f"{archive} is neither a zip nor a tar archive")


@contextlib.contextmanager
def _closing_both(stream: BinaryIO, container: "zipfile.ZipFile | tarfile.TarFile") -> Iterator[BinaryIO]:
    try:
        yield stream
    finally:
        stream.close()
        container.close()


def extract_member(
    archive: PathLike,
    member: str,
    dest: PathLike,
    *,
    sha256: Optional[str] = None,
    progress: Optional[bool] = None,
) -> Path:
    """Copy one ``member`` of a zip/tar ``archive`` to ``dest``, verified and atomic.

    Only the named member is read, and it is written to the caller's ``dest``
    (never to a path taken from the archive), so a hostile archive cannot
    write outside the dataset folder. ``KeyError`` if the member is absent.
    """
    archive, dest = Path(archive), Path(dest)
    with _open_member(archive, member) as stream, staging_file(dest) as handle:
        actual, _ = _copy_hashing(stream, handle, total=None, desc=dest.name, progress=progress)
        _check(dest, sha256, actual)
        publish(handle, dest)
    return dest


@contextlib.contextmanager
def downloaded_archive(
    url: str, folder: PathLike, *, timeout: float = DEFAULT_TIMEOUT, sha256: Optional[str] = None,
    progress: Optional[bool] = None,
) -> Iterator[Path]:
    """Download an archive to a temporary file inside ``folder``; delete it on exit.

    The archive itself is only a vehicle: what the registry verifies are the
    members extracted from it (:func:`extract_member`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder, prefix=".download-"))
    try:
        name = Path(urllib.parse.urlparse(url).path).name or "archive"
        yield download_file(url, scratch / name, sha256=sha256, timeout=timeout, progress=progress)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
