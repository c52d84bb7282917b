"""Reading delimited text tables with pandas, and reporting bad rows by file line.

Every table is read read-only, every field as a string first; columns are then
validated and converted (integers, floats, raw ids). Each row remembers the
1-based line of the file it came from (the header counts as a line), so that a
:class:`~graphrec.data.errors.DataFormatError` points at the line to fix.

RecBole's atomic files carry typed headers (``user_id:token``, ``rating:float``,
``class:token_seq``); :func:`read_typed_table` checks the types and strips the
``:type`` suffixes from the column names.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import DataFormatError

RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")

# Integers written the way Python writes them (no sign, no leading zero): only
# these may become integer raw ids, so that "007" and "7" never collide.
_CANONICAL_INT = r"(?:0|-?[1-9][0-9]{0,17})"
_ANY_INT = r"[+-]?[0-9]{1,18}"


@dataclass(eq=False)
class Table:
    """A delimited file read as strings.

    ``frame`` holds one string column per field (named by the header, or by the
    ``names`` given for header-less files); ``lines[k]`` is the 1-based file line
    of row ``k``. ``header_line`` is the line of the header (``None`` without one)
    and ``types`` the RecBole type of each column (empty for untyped files).
    """

    path: Path
    frame: pd.DataFrame
    lines: np.ndarray
    header_line: Optional[int] = None
    types: Dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> pd.Series:
        return self.frame[name]

    def error(self, row: int, expected: str, found: Optional[str] = None) -> DataFormatError:
        """A :class:`DataFormatError` for row position ``row`` (0-based) of the frame."""
        return DataFormatError(self.path, expected, line=int(self.lines[row]), found=found)

    def first_bad(self, bad: "np.ndarray | pd.Series", column: str, expected: str) -> None:
        """Raise for the first row where ``bad`` is true, quoting its value in ``column``."""
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise self.error(row, expected, found=f"{self.frame[column].iloc[row]!r} in column {column!r}")


def _split_lines(path: Path) -> pd.Series:
    """The file's lines (without ``\\n`` / ``\\r\\n``), indexed by 1-based line number."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(
            path, "UTF-8 text", line=data.count(b"\n", 0, error.start) + 1, found=f"byte {data[error.start]:#04x}"
        ) from None
    # A byte-order mark (some editors write one) is not part of the first column's name.
    parts = text.removeprefix("\ufeff").split("\n")
    if parts and parts[-1] == "":
        # A final newline ends the last line; it does not start an empty one.
        parts.pop()
    lines = pd.Series(parts, dtype=object).str.removesuffix("\r")
    lines.index = pd.RangeIndex(1, len(lines) + 1)
    return lines


def read_table(
    path: "str | os.PathLike[str]",
    *,
    sep: str = "\t",
    header: bool = True,
    names: Optional[Sequence[str]] = None,
    min_rows: int = 1,
) -> Table:
    """Read a delimited file with pandas, every field as a string.

    With ``header`` the first non-blank line names the columns; otherwise
    ``names`` does. Every non-blank line must have as many fields as there are
    columns; blank lines are skipped (their numbers still count). Fewer than
    ``min_rows`` data rows, an empty file included, is an error. Quotes are
    plain characters (RecBole and KGCN files never quote), so one line is one row.

    Raises :class:`DataFormatError` naming the file and line.
    """
    path = Path(path)
    if not header and names is None:
        raise ValueError("a header-less table needs column names")
    lines = _split_lines(path)
    lines = lines[lines != ""]
    if lines.empty:
        what = "a header line and data rows" if header else f"rows of {len(names)} fields"
        raise DataFormatError(path, what, found="an empty file")

    header_line: Optional[int] = None
    if header:
        header_line = int(lines.index[0])
        header_text = lines.iloc[0]
        columns = header_text.split(sep)
        lines = lines.iloc[1:]
        if len(set(columns)) != len(columns) or "" in columns:
            raise DataFormatError(path, "distinct, non-empty column names", line=header_line, found=repr(header_text))
    else:
        columns = list(names)

    fields = lines.str.count(sep).to_numpy() + 1 if len(lines) else np.zeros(0, dtype=np.int64)
    wrong = np.flatnonzero(fields != len(columns))
    if wrong.size:
        bad = int(wrong[0])
        raise DataFormatError(
            path,
            f"{len(columns)} {sep!r}-separated fields",
            line=int(lines.index[bad]),
            found=f"{fields[bad]} fields: {lines.iloc[bad][:200]!r}",
        )
    if len(lines) < min_rows:
        raise DataFormatError(
            path, f"at least {min_rows} data row(s)", line=header_line, found=f"{len(lines)} data rows"
        )

    if len(lines):
        frame = pd.read_csv(
            io.StringIO("\n".join(lines.tolist())),
            sep=sep,
            header=None,
            names=columns,
            dtype=str,
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    else:
        frame = pd.DataFrame({name: pd.Series([], dtype=str) for name in columns})
    return Table(path=path, frame=frame, lines=lines.index.to_numpy(dtype=np.int64), header_line=header_line)


def parse_typed_header(path: "str | os.PathLike[str]", columns: Sequence[str], *, line: Optional[int] = 1) -> Dict[str, str]:
    """``{"user_id:token", "rating:float"}`` -> ``{"user_id": "token", "rating": "float"}``.

    Each column must read ``name:type`` with a RecBole type (token, token_seq,
    float, float_seq); the names without their suffix must stay distinct.
    """
    types: Dict[str, str] = {}
    for column in columns:
        name, colon, kind = column.rpartition(":")
        if not colon or not name or kind not in RECBOLE_TYPES:
            raise DataFormatError(
                path,
                f"typed column names such as 'user_id:token' (types {', '.join(RECBOLE_TYPES)})",
                line=line,
                found=repr(column),
            )
        if name in types:
            raise DataFormatError(path, "distinct column names", line=line, found=f"{name!r} twice")
        types[name] = kind
    return types


def read_typed_table(path: "str | os.PathLike[str]", *, sep: str = "\t", min_rows: int = 1) -> Table:
    """Read a RecBole atomic file: typed header, ``:type`` suffixes stripped.

    ``float`` columns are checked to hold finite numbers (they stay strings in
    ``frame``; convert with :func:`float_column`); ``table.types`` keeps the types.
    """
    table = read_table(path, sep=sep, header=True, min_rows=min_rows)
    types = parse_typed_header(table.path, list(table.frame.columns), line=table.header_line)
    table.frame.columns = list(types)
    table.types = types
    for name, kind in types.items():
        if kind == "float":
            float_column(table, name)
    return table


def require_columns(table: Table, required: Sequence[str]) -> None:
    """Raise :class:`DataFormatError` on the header line when a column is missing."""
    missing = [name for name in required if name not in table.frame.columns]
    if missing:
        raise DataFormatError(
            table.path,
            f"column(s) {', '.join(map(repr, required))}",
            line=table.header_line,
            found=f"columns {list(table.frame.columns)} (missing {', '.join(map(repr, missing))})",
        )


def float_column(table: Table, name: str) -> np.ndarray:
    """Column ``name`` as float64; a value that is not a finite number raises."""
    values = pd.to_numeric(table.column(name).str.strip(), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    table.first_bad(~np.isfinite(values), name, "a finite number")
    return values


def int_column(table: Table, name: str) -> np.ndarray:
    """Column ``name`` as int64; a value that is not an integer raises."""
    text = table.column(name).str.strip()
    table.first_bad(~text.str.fullmatch(_ANY_INT).to_numpy(dtype=bool), name, "an integer")
    return text.astype(np.int64).to_numpy()


def timestamp_values(values: np.ndarray) -> np.ndarray:
    """Timestamps as int64 when every value is a whole number of seconds, else float64."""
    if values.size and np.all(values == np.round(values)) and np.abs(values).max() < 2**53:
        return values.astype(np.int64)
    return values


def is_canonical_int(tokens: "pd.Series | np.ndarray") -> bool:
    """True when every token is an integer written without sign or leading zeros
    (so the integer and the text name the same id)."""
    series = pd.Series(np.asarray(tokens, dtype=object), dtype=object).astype(str)
    return bool(series.str.fullmatch(_CANONICAL_INT).all())


def ids_from_tokens(*token_columns: "pd.Series | np.ndarray") -> "tuple[bool, list[np.ndarray]]":
    """Raw ids of token columns that share one id space.

    When every token of every column is a canonical integer the ids become int64
    (``"196"`` -> ``196``), else they stay strings. Returns the decision and the
    converted columns, in the order given.
    """
    columns = [pd.Series(np.asarray(tokens, dtype=object), dtype=object) for tokens in token_columns]
    as_int = all(is_canonical_int(column) for column in columns)
    if as_int:
        return True, [column.astype(np.int64).to_numpy() for column in columns]
    return False, [column.astype(str).to_numpy(dtype=object) for column in columns]


def sorted_unique(*arrays: np.ndarray) -> np.ndarray:
    """Sorted distinct values of the arrays together: numeric order for numbers,
    code-point order for strings, ``str`` order for a mix of both."""
    parts = [np.asarray(a) for a in arrays if len(a)]
    if not parts:
        return np.zeros(0, dtype=np.int64)
    values = pd.unique(pd.Series(np.concatenate(parts) if len(parts) > 1 else parts[0]))
    values = np.asarray(values)
    try:
        return np.sort(values, kind="stable")
    except TypeError:
        # Mixed ints and strings cannot be compared; order by their text instead.
        return values[np.argsort(values.astype(str), kind="stable")]
