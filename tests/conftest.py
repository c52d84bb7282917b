"""Shared fixtures: where the real datasets are, and a guard that they stay untouched."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
_DEFAULT_SHARED_DATA = REPO.parent / "shared" / "data"


def _data_root() -> Path:
    return Path(os.environ.get("GRAPHREC_DATA") or _DEFAULT_SHARED_DATA)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding the real datasets (``$GRAPHREC_DATA``, else ``../shared/data``).

    Missing data skips the test on a developer's laptop but fails under CI,
    where ``../shared/data`` is always present and a skip would hide a gap.
    """
    root = _data_root()
    if not root.is_dir():
        message = f"real datasets not found at {root}; set GRAPHREC_DATA"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


def folder_digest(folder: Path) -> Dict[str, str]:
    """sha256 and mtime of every file under ``folder``: to show loading changes nothing."""
    digest = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest[str(path.relative_to(folder))] = (
                hashlib.sha256(path.read_bytes()).hexdigest() + f"@{path.stat().st_mtime_ns}"
            )
    return digest
