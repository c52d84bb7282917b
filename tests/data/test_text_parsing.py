"""The vectorised integer/float text parser, against hand-computed values and
plain-Python / NumPy re-reads of the same bytes."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from graphrec.data.errors import DataFormatError
from graphrec.data.readers._text import read_adjacency, read_float_rows, read_int_rows, read_name_table


def write(tmp_path: Path, text: "str | bytes", name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# -- adjacency -------------------------------------------------------------------
def test_adjacency_hand_example(tmp_path):
    # line 2: user without items; line 3: blank; line 4: tabs, CRLF, no final newline
    path = write(tmp_path, "0 1 2\n1\n\n2\t0  \r\n 3 7")
    pairs = read_adjacency(path)
    assert pairs.user.tolist() == [0, 0, 2, 3]
    assert pairs.item.tolist() == [1, 2, 0, 7]
    assert pairs.line.tolist() == [1, 1, 4, 5]
    assert pairs.row_user.tolist() == [0, 1, 2, 3]
    assert pairs.user.dtype == np.int64 and pairs.item.dtype == np.int64


def test_adjacency_matches_plain_python_on_random_file(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for user in range(300):
        items = rng.integers(0, 10**int(rng.integers(1, 18)), size=int(rng.integers(0, 12)))
        gap = [" ", "\t", "  ", " \t "][int(rng.integers(0, 4))]
        lines.append(gap.join(str(v) for v in [user, *items]) + gap * int(rng.integers(0, 2)))
        if rng.random() < 0.1:
            lines.append("")
    text = "\n".join(lines) + "\n"
    path = write(tmp_path, text)

    expected_user, expected_item, expected_line = [], [], []
    for number, line in enumerate(text.split("\n"), start=1):
        tokens = [int(t) for t in line.split()]
        expected_user += [tokens[0]] * (len(tokens) - 1) if tokens else []
        expected_item += tokens[1:]
        expected_line += [number] * max(len(tokens) - 1, 0)

    pairs = read_adjacency(path)
    assert pairs.user.tolist() == expected_user
    assert pairs.item.tolist() == expected_item
    assert pairs.line.tolist() == expected_line


def test_largest_integer_and_leading_zeros_and_plus_sign(tmp_path):
    path = write(tmp_path, "999999999999999999 007 +5 -0\n")
    assert read_int_rows(path).values.tolist() == [[999999999999999999, 7, 5, 0]]


# -- fixed-width rows --------------------------------------------------------------
def test_int_rows_hand_example(tmp_path):
    path = write(tmp_path, "0 1 2\n\n3 4 5\r\n6 7 8")
    rows = read_int_rows(path, 3)
    assert rows.values.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert rows.line.tolist() == [1, 3, 4]


def test_float_rows_match_numpy_loadtxt(tmp_path):
    rng = np.random.default_rng(1)
    matrix = rng.random((40, 7)) * 10.0 ** rng.integers(-8, 8, size=(40, 7))
    path = tmp_path / "m.txt"
    np.savetxt(path, matrix)  # "%.18e", space separated, like Coat's propensities
    rows = read_float_rows(path)
    np.testing.assert_array_equal(rows.values, np.loadtxt(path))
    path2 = write(tmp_path, "1 -2.5 3e2\n.5 +4 1E-3\n", "small.txt")
    assert read_float_rows(path2, 3).values.tolist() == [[1.0, -2.5, 300.0], [0.5, 4.0, 0.001]]


def test_read_only_file_is_readable_and_unchanged(tmp_path):
    path = write(tmp_path, "0 1 2\n3 4 5\n")
    os.chmod(path, stat.S_IRUSR)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert read_int_rows(path, 3).values.sum() == 15
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


# -- errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, line, token",
    [
        ("0 1 2\n1 x 3\n", 2, "'x'"),
        ("0 1 2\n\n1 2.5\n", 3, "'2.5'"),
        ("0 1-2\n", 1, "'1-2'"),
        ("0 1\n2 -\n", 2, "'-'"),
        ("0 1\n2 0x1F\n", 2, "'0x1F'"),
        ("0 1\n1,2,3\n", 2, "'1,2,3'"),
        ("0 1 \xe9t\xe9\n", 1, "'\xe9t\xe9'"),
    ],
)
def test_non_integer_token(tmp_path, text, line, token):
    path = write(tmp_path, text)
    with pytest.raises(DataFormatError) as error:
        read_adjacency(path)
    message = str(error.value)
    assert message.startswith(f"{path}, line {line}: expected an integer")
    assert error.value.line == line and token in message


def test_too_many_digits(tmp_path):
    path = write(tmp_path, "0 1\n1 1234567890123456789\n")
    with pytest.raises(DataFormatError, match=r"line 2: expected an integer id of at most 18 digits"):
        read_adjacency(path)


def test_negative_id(tmp_path):
    path = write(tmp_path, "0 1 2\n3 4 -7\n")
    with pytest.raises(DataFormatError) as error:
        read_adjacency(path)
    assert str(error.value) == (
        f"{path}, line 2: expected a non-negative integer id (ids must be non-negative integers), found '-7'"
    )


@pytest.mark.parametrize("text", ["", "\n\n", " \t\r\n  "])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, text)
    for reader in (read_adjacency, read_int_rows, read_float_rows):
        with pytest.raises(DataFormatError, match=r"f\.txt: expected .*found no data \(the file is empty\)"):
            reader(path)


def test_wrong_column_count(tmp_path):
    path = write(tmp_path, "0 1 2\n3 4 5\n\n6 7\n8 9 10 11\n")
    with pytest.raises(DataFormatError) as error:
        read_int_rows(path, 3, layout="head relation tail")
    assert str(error.value) == (
        f"{path}, line 4: expected 3 values per line (head relation tail), found 2 values: '6 7'"
    )
    # without a given width the first row sets it
    with pytest.raises(DataFormatError, match=r"line 4: expected 3 values per line"):
        read_int_rows(path)


def test_float_not_a_number(tmp_path):
    path = write(tmp_path, "0.5 0.25\n1e-3 1.2.3\n")
    with pytest.raises(DataFormatError, match=r"line 2: expected a number, found '1\.2\.3'"):
        read_float_rows(path)


# -- name tables -------------------------------------------------------------------
def test_name_table_header_blank_lines_and_spaces(tmp_path):
    path = write(tmp_path, "org_id remap_id\nhttp://x/a 0\n\nname with spaces 2\r\nm.0b 1\n")
    table = read_name_table(path)
    assert table.name.tolist() == ["http://x/a", "name with spaces", "m.0b"]
    assert table.id.tolist() == [0, 2, 1]
    assert table.line.tolist() == [2, 4, 5]
    # no header: the first line is data
    table = read_name_table(write(tmp_path, "a 3\nb 4\n", "plain.txt"))
    assert table.name.tolist() == ["a", "b"] and table.id.tolist() == [3, 4]


def test_name_table_bad_id(tmp_path):
    path = write(tmp_path, "org_id remap_id\na 0\nb -1\n")
    with pytest.raises(DataFormatError, match=r"line 3: expected 'name id' .*non-negative integer id.*found 'b -1'"):
        read_name_table(path)
