"""Vectorised parsing of whitespace-separated number files.

A file is read once as bytes and viewed as a ``uint8`` array. Whitespace
(space, tab, CR, LF, VT, FF) separates tokens; token boundaries, the 1-based
line of every token and the validity of every character are computed with
NumPy over the whole array, and all tokens are converted in bulk:

* integers: digits are right-aligned, so column ``j`` of a width-``w`` token
  has place value ``10**(w-1-j)``, and Horner's rule ``value = 10*value + digit``
  runs once per column (at most 19 passes over all tokens);
* floats: each token is left-aligned in a fixed-width bytes array that NumPy
  casts to ``float64`` in C.

No Python loop runs over lines or tokens: Gowalla's 4.6 MB ``train.txt``
(810,128 pairs) parses in about 0.1 s, a 2.5M-triple KG in about 1 s.
Files are opened read-only and never written.

Two layouts are served:

* adjacency lists (LightGCN / KGAT ``train.txt``): ``user item item ...`` per
  line, a user alone on a line has no items, blank lines are allowed;
* fixed-width rows (``head relation tail``, dense matrices): every non-blank
  line holds the same number of values.

Malformed input raises :class:`~graphrec.data.errors.DataFormatError` naming the
file, the 1-based line, what was expected and the offending token or line.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Optional, Union

import numpy as np
import pandas as pd

from ..errors import DataFormatError

PathLike = Union[str, "os.PathLike[str]"]

# The widest integer that cannot overflow int64 (max 9.22e18) has 18 digits.
MAX_INT_DIGITS = 18
# Float tokens longer than this are rejected rather than padded: no decimal
# float needs more, and it bounds the padded token matrix.
MAX_FLOAT_CHARS = 64

# Byte-class lookup tables: one gather classifies a whole file.
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[list(b" \t\r\n\v\f")] = True
_TOKEN = ~_WHITESPACE
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True
_STRAY = ~_DIGIT & ~_WHITESPACE  # a byte no integer token is made of (signs included)
_SIGN = np.zeros(256, dtype=bool)
_SIGN[list(b"+-")] = True
_MINUS = ord("-")
_NEWLINE = ord("\n")


class Adjacency(NamedTuple):
    """Pairs of an adjacency-list file, in file order."""

    user: np.ndarray  #: int64, the first id of the pair's line
    item: np.ndarray  #: int64, one of the ids after it
    line: np.ndarray  #: int64, 1-based line of each pair
    row_user: np.ndarray  #: int64, the first id of every non-blank line (users without items included)


class Rows(NamedTuple):
    """Fixed-width rows of a file, blank lines skipped."""

    values: np.ndarray  #: ``(rows, columns)`` int64 or float64
    line: np.ndarray  #: int64, 1-based line of each row


class NameTable(NamedTuple):
    """``name id`` rows of a KGAT-style list file (``org_id remap_id``)."""

    name: np.ndarray  #: object array of str
    id: np.ndarray  #: int64
    line: np.ndarray  #: int64, 1-based line of each row


class _Tokens(NamedTuple):
    data: np.ndarray  # the file as uint8
    start: np.ndarray  # int64 offset of each token's first byte
    end: np.ndarray  # int64 offset one past each token's last byte
    line: np.ndarray  # int64 1-based line of each token
    newlines: np.ndarray  # int64 offsets of the b"\n" bytes


# -- tokenising ----------------------------------------------------------------
def _tokenize(path: Path) -> _Tokens:
    """Token boundaries and line numbers of ``path``; raises on a file without data."""
    with open(path, "rb") as handle:  # read-only, one read
        data = np.frombuffer(handle.read(), dtype=np.uint8)
    if data.size == 0:
        raise DataFormatError(path, "whitespace-separated numbers", found="no data (the file is empty)")
    # The file is the largest array here: only uint8/bool passes over it.
    edges = np.diff(_TOKEN[data].view(np.int8))
    start = np.flatnonzero(edges == 1) + 1
    end = np.flatnonzero(edges == -1) + 1
    if _TOKEN[data[0]]:
        start = np.concatenate([[0], start])
    if _TOKEN[data[-1]]:
        end = np.concatenate([end, [data.size]])
    if start.size == 0:
        raise DataFormatError(path, "whitespace-separated numbers", found="no data (the file is empty)")
    newlines = np.flatnonzero(data == _NEWLINE)
    # Lines of tokens without a per-byte cumulative count: newline p precedes
    # token k iff k >= searchsorted(start, p), so the newlines before token k
    # are the cumulative histogram of those indices. Searching the (fewer)
    # newlines among the tokens is cheaper than the converse.
    first_after = np.searchsorted(start, newlines, side="right")
    line = np.cumsum(np.bincount(first_after, minlength=len(start) + 1)[: len(start)]) + 1
    return _Tokens(data, start, end, line, newlines)


def _token_text(tokens: _Tokens, k: int, limit: int = 40) -> str:
    raw = tokens.data[tokens.start[k] : tokens.end[k]].tobytes().decode("utf-8", errors="replace")
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")


def _line_text(tokens: _Tokens, line: int, limit: int = 80) -> str:
    """The text of 1-based ``line`` (for messages)."""
    first = 0 if line == 1 else int(tokens.newlines[line - 2]) + 1
    last = int(tokens.newlines[line - 1]) if line - 1 < len(tokens.newlines) else len(tokens.data)
    raw = tokens.data[first:last].tobytes().decode("utf-8", errors="replace").strip()
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")


# -- conversion ----------------------------------------------------------------
def _to_integers(path: Path, tokens: _Tokens, *, what: str) -> np.ndarray:
    """Every token as a non-negative int64; raises on the first bad token."""
    data, start, end = tokens.data, tokens.start, tokens.end
    length = end - start
    # Count the non-digit bytes of each token (signs included) by locating them;
    # in a well-formed file they are few.
    stray = np.flatnonzero(_STRAY[data])
    non_digits = np.bincount(np.searchsorted(start, stray, side="right") - 1, minlength=len(start))
    signed = _SIGN[data[start]]
    digits = length - signed
    well_formed = ((non_digits == 0) | ((non_digits == 1) & signed & (digits > 0))) & (digits <= MAX_INT_DIGITS)
    bad = np.flatnonzero(~well_formed)
    if bad.size:
        k = int(bad[0])
        only_too_long = non_digits[k] <= int(signed[k]) and digits[k] > MAX_INT_DIGITS
        expected = f"an integer {what}" + (f" of at most {MAX_INT_DIGITS} digits" if only_too_long else "")
        raise DataFormatError(path, expected, line=int(tokens.line[k]), found=_token_text(tokens, k))

    # Horner's rule over right-aligned digit columns: column j of a width-w
    # token has place value 10**(w-1-j). One pass per column (at most 19), each
    # a gather of one byte per token, updating ``values`` in place.
    width = int(length.max())
    values = np.zeros(len(start), dtype=np.int64)
    position = end - width  # byte of each token in the current column
    clipped = np.empty_like(position)
    for _ in range(width):
        np.maximum(position, 0, out=clipped)
        digit = data[clipped] - np.uint8(ord("0"))  # a sign wraps to > 9
        # cells left of the token (padding) may hold the previous token's bytes
        digit[(position < start) | (digit > 9)] = 0
        values *= 10
        values += digit
        position += 1

    negative = np.flatnonzero((data[start] == _MINUS) & (values != 0))
    if negative.size:
        k = int(negative[0])
        raise DataFormatError(
            path,
            f"a non-negative integer {what} ({what}s must be non-negative integers)",
            line=int(tokens.line[k]),
            found=_token_text(tokens, k),
        )
    return values


def _to_floats(path: Path, tokens: _Tokens) -> np.ndarray:
    """Every token as float64; raises on the first token that is not a number."""
    length = tokens.end - tokens.start
    too_long = np.flatnonzero(length > MAX_FLOAT_CHARS)
    if too_long.size:
        k = int(too_long[0])
        raise DataFormatError(path, "a number", line=int(tokens.line[k]), found=_token_text(tokens, k))
    # Left-align every token in a zero-padded (tokens, width) byte matrix, whose
    # rows are then fixed-width bytes strings that NumPy parses in C.
    width = int(length.max())
    cells = np.zeros((len(length), width), dtype=np.uint8)
    for column in range(width):
        has = np.flatnonzero(length > column)
        cells[has, column] = tokens.data[tokens.start[has] + column]
    text = cells.view(f"S{width}").ravel()
    try:
        return text.astype(np.float64)
    except ValueError:
        # Only on bad input: pandas marks every unparsable token at once.
        parsed = pd.to_numeric(pd.Series(text.astype(str), dtype=object), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(parsed) & (np.char.lower(text) != b"nan"))
        line = int(tokens.line[bad[0]]) if bad.size else None
        found = _token_text(tokens, int(bad[0])) if bad.size else None
        raise DataFormatError(path, "a number", line=line, found=found) from None


# -- layouts -------------------------------------------------------------------
def _first_of_line(tokens: _Tokens) -> np.ndarray:
    """True for each token that opens its line."""
    first = np.ones(len(tokens.line), dtype=bool)
    first[1:] = tokens.line[1:] != tokens.line[:-1]
    return first


def read_adjacency(path: PathLike, *, what: str = "id") -> Adjacency:
    """Pairs ``(line[0], line[j])`` for ``j >= 1`` of every line of ``path``.

    ``what`` names the ids in error messages.
    """
    path = Path(path)
    tokens = _tokenize(path)
    values = _to_integers(path, tokens, what=what)
    first = _first_of_line(tokens)
    row_of_token = np.cumsum(first) - 1
    row_user = values[first]
    pair = ~first
    return Adjacency(
        user=row_user[row_of_token[pair]],
        item=values[pair],
        line=tokens.line[pair],
        row_user=row_user,
    )


def _rows(path: Path, tokens: _Tokens, values: np.ndarray, columns: Optional[int], layout: Optional[str]) -> Rows:
    first = _first_of_line(tokens)
    row_start = np.flatnonzero(first)
    counts = np.diff(row_start, append=len(first))
    if columns is None:
        columns = int(counts[0])
    bad = np.flatnonzero(counts != columns)
    if bad.size:
        line = int(tokens.line[row_start[bad[0]]])
        expected = f"{columns} values per line" + (f" ({layout})" if layout else "")
        raise DataFormatError(
            path, expected, line=line, found=f"{counts[bad[0]]} values: {_line_text(tokens, line)}"
        )
    return Rows(values=values.reshape(-1, columns), line=tokens.line[first])


def read_int_rows(
    path: PathLike, columns: Optional[int] = None, *, layout: Optional[str] = None, what: str = "id"
) -> Rows:
    """Non-negative integer rows of equal width (``columns``, else the first row's).

    ``layout`` (e.g. ``"head relation tail"``) and ``what`` only word error messages.
    """
    path = Path(path)
    tokens = _tokenize(path)
    return _rows(path, tokens, _to_integers(path, tokens, what=what), columns, layout)


def read_float_rows(path: PathLike, columns: Optional[int] = None, *, layout: Optional[str] = None) -> Rows:
    """Float rows of equal width (``columns``, else the first row's)."""
    path = Path(path)
    tokens = _tokenize(path)
    return _rows(path, tokens, _to_floats(path, tokens), columns, layout)


def read_name_table(path: PathLike) -> NameTable:
    """``name id`` rows, the id being the last field of the line.

    A first line whose last field is not an integer is a header (KGAT's
    ``org_id remap_id``) and is skipped; blank lines are skipped. Ids must be
    non-negative integers.
    """
    path = Path(path)
    with open(path, "rb") as handle:  # read-only
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataFormatError(path, "UTF-8 text", line=line, found=f"byte {raw[error.start]:#04x}") from None
    lines = pd.Series(text.split("\n"), dtype=object).str.strip()
    numbers = np.arange(1, len(lines) + 1, dtype=np.int64)
    keep = (lines != "").to_numpy(dtype=bool)
    lines, numbers = lines[keep].reset_index(drop=True), numbers[keep]
    if len(lines) == 0:
        raise DataFormatError(path, "'name id' lines", found="no data (the file is empty)")
    fields = lines.str.rsplit(n=1, expand=True).reindex(columns=[0, 1])
    is_id = fields[1].str.fullmatch(r"\d{1,18}").to_numpy(dtype=object, na_value=False).astype(bool)
    if not is_id[0]:  # header line
        lines, fields, is_id, numbers = lines.iloc[1:], fields.iloc[1:], is_id[1:], numbers[1:]
    bad = np.flatnonzero(~is_id)
    if bad.size:
        k = int(bad[0])
        raise DataFormatError(
            path,
            "'name id' with a non-negative integer id (ids must be non-negative integers)",
            line=int(numbers[k]),
            found=repr(lines.iloc[k]),
        )
    return NameTable(
        name=fields[0].to_numpy(dtype=object),
        id=fields[1].to_numpy(dtype=str).astype(np.int64),
        line=numbers,
    )
