"""Atomic file writes: a file is either the old one or the complete new one.

Data is written to a hidden temporary file in the destination's folder, flushed
to disk, then moved over the destination with one ``os.replace``. A crash or a
failed check part-way leaves the user's existing file untouched. Downloads,
result files and (later) checkpoints all go through here.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def staging_file(dest: PathLike) -> Iterator[IO[bytes]]:
    """A temporary binary file next to ``dest``; removed unless :func:`publish` moved it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # the leading dot and ``.part`` suffix keep half-written files out of globs
    # and make them recognisable if a process is killed hard (SIGKILL)
    handle = tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False)
    try:
        yield handle
    finally:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)


def publish(handle: IO[bytes], dest: PathLike) -> None:
    """Flush ``handle`` to disk and move it to ``dest`` in one atomic rename."""
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
    # NamedTemporaryFile creates 0600 files; give the data the usual permissions
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(handle.name, 0o666 & ~umask)
    os.replace(handle.name, dest)


def write_text_atomic(path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    path = Path(path)
    with staging_file(path) as handle:
        handle.write(text.encode(encoding))
        publish(handle, path)
    return path
