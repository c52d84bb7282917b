"""Errors raised when dataset files are missing, malformed or corrupted.

Every message names the file, the line or row (when there is one) and what was
expected, so that a user can open the file and fix it.
"""
from __future__ import annotations

import os
from typing import Optional


class DataFormatError(ValueError):
    """A dataset file does not hold what its format promises.

    ``str(error)`` reads ``"{path}, line {line}: expected {expected}, found {found}"``;
    the pieces are kept as attributes for programs that handle the error.
    """

    def __init__(
        self,
        path: "str | os.PathLike[str]",
        expected: str,
        *,
        line: Optional[int] = None,
        found: Optional[str] = None,
        location: str = "line",
    ) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.expected = expected
        self.found = found
        where = self.path if line is None else f"{self.path}, {location} {line}"
        message = f"{where}: expected {expected}"
        if found is not None:
            message += f", found {found}"
        super().__init__(message)


class ChecksumError(DataFormatError):
    """A file's sha256 differs from the one the registry records."""

    def __init__(self, path: "str | os.PathLike[str]", expected_sha256: str, actual_sha256: str) -> None:
        super().__init__(
            path,
            f"sha256 {expected_sha256}",
            found=f"sha256 {actual_sha256} (the file is corrupted, truncated or a different release)",
        )
        self.expected_sha256 = expected_sha256
        self.actual_sha256 = actual_sha256


class DatasetNotFoundError(FileNotFoundError):
    """A registered dataset is neither on disk nor downloadable here."""


class StatisticsMismatchError(ValueError):
    """A dataset loaded but its statistics differ from the published ones."""


class UnseenInteractionsWarning(UserWarning):
    """Evaluation interactions name a user or item that never occurs in training."""
