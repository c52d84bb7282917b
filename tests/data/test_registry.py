"""The dataset registry on the real datasets: location, checksums, statistics, errors.

Expected numbers are the published ones (``../shared/data/README.md``), typed
here rather than read from the registry, so a wrong registry entry fails.
Nothing here touches the network: every ``load`` runs with ``download=False``
or with a cache that already holds the files.
"""
from __future__ import annotations

import hashlib
import shutil
import warnings
from pathlib import Path
from typing import Dict

import pytest

from graphrec.data import ChecksumError, DatasetNotFoundError, StatisticsMismatchError, UnseenInteractionsWarning
from graphrec.data.registry import (
    DatasetSpec,
    LazyReader,
    RemoteFile,
    UnverifiedFileWarning,
    cache_dir,
    get_spec,
    load,
    locate,
    register,
    registered_datasets,
    unregister,
)

from tests.conftest import folder_digest

PUBLISHED = {
    "gowalla": {"users": 29_858, "items": 40_981, "train": 810_128, "valid": 0, "test": 217_242},
    "last-fm-kgcn": {"users": 1_872, "items": 3_846, "entities": 9_366, "relations": 60, "triples": 15_518},
    "ml-100k": {"users": 943, "items": 1_682, "entities": 34_628, "relations": 24, "triples": 91_631},
    "coat": {"users": 290, "items": 300},
}
PUBLISHED_TOTALS = {"last-fm-kgcn": 21_173, "ml-100k": 100_000, "gowalla": 810_128 + 217_242}
# readers report unseen test users/items; that is their contract, not the registry's
pytestmark = pytest.mark.filterwarnings("ignore::graphrec.data.errors.UnseenInteractionsWarning")

FOLDERS = {"gowalla": "gowalla", "amazon-book": "amazon-book", "last-fm-kgcn": "lastfm-kgcn",
           "ml-100k": "ml-100k", "coat": "coat"}


@pytest.fixture(scope="module")
def loaded(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """Each real dataset loaded once through the registry from ``$GRAPHREC_DATA``."""
    before = folder_digest(data_root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHREC_DATA", str(data_root))
        patch.setenv("GRAPHREC_CACHE", str(tmp_path_factory.mktemp("empty-cache")))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnseenInteractionsWarning)
            datasets = {name: load(name, download=False) for name in PUBLISHED}
    assert folder_digest(data_root) == before, "loading must not modify the shared data"
    return datasets


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty cache under tmp_path; $GRAPHREC_DATA unset; returns the cache."""
    monkeypatch.delenv("GRAPHREC_DATA", raising=False)
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# -- the real datasets -----------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_load_gives_published_statistics(loaded, name: str) -> None:
    stats = loaded[name].stats()
    for key, value in PUBLISHED[name].items():
        assert stats[key] == value, key
    if name in PUBLISHED_TOTALS:
        assert stats["train"] + stats["valid"] + stats["test"] == PUBLISHED_TOTALS[name]


def test_load_names_the_dataset(loaded) -> None:
    assert {name: dataset.name for name, dataset in loaded.items()} == {name: name for name in PUBLISHED}


def test_registered_names_and_folders() -> None:
    specs = {spec.name: spec for spec in registered_datasets()}
    assert FOLDERS.items() <= {name: spec.folder for name, spec in specs.items()}.items()
    assert [spec.name for spec in registered_datasets()] == sorted(specs)
    for spec in specs.values():
        assert spec.citation.lstrip().startswith("@"), spec.name
        assert spec.licence and spec.homepage.startswith("https://"), spec.name
        assert all(f.url.startswith("https://") for f in spec.files), spec.name


def test_registered_checksums_match_the_shared_files(data_root: Path) -> None:
    for spec in registered_datasets():
        folder = data_root / spec.folder
        if not folder.is_dir():
            continue
        for remote in spec.files:
            data = (folder / remote.name).read_bytes()
            assert remote.sha256 == hashlib.sha256(data).hexdigest(), f"{spec.name}/{remote.name}"
            assert remote.size in (None, len(data))


def test_amazon_book_records_known_checksums_and_an_unknown_kg() -> None:
    spec = get_spec("amazon-book")
    files = {f.name: f for f in spec.files}
    assert files["train.txt"].sha256 == "4d10106bb06a77e11df660429903c0067aeb85b86431807836b0d8b7edc30c38"
    assert files["test.txt"].sha256 == "f47eff9d35fb95c07d74251a991478a84095ce6c5969b0dafcb4afe99fc716ec"
    assert files["kg_final.txt"].sha256 is None
    assert files["kg_final.txt"].archive_member == "kg_final.txt"
    assert files["kg_final.txt"].url.endswith(".zip")
    assert dict(spec.expected) == {
        "users": 70_679, "items": 24_915, "train": 652_514, "valid": 0, "test": 193_920,
        "entities": 88_572, "relations": 39, "triples": 2_557_746,
    }


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError) as info:
        get_spec("no-such-dataset")
    message = str(info.value)
    assert "no-such-dataset" in message
    for name in FOLDERS:
        assert name in message


# -- where the registry looks --------------------------------------------------------

def _copy_coat(data_root: Path, base: Path) -> Path:
    target = base / "coat"
    shutil.copytree(data_root / "coat", target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # the shared copy is read-only
    return target


def test_root_takes_precedence_over_env(data_root: Path, env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHREC_DATA", str(data_root))
    root = tmp_path / "root"
    copy = _copy_coat(data_root, root)
    assert locate("coat", root=root) == copy
    assert locate("coat") == data_root / "coat"
    # a corrupted copy under root is reported although $GRAPHREC_DATA holds a good one:
    # root was searched first
    train = copy / "train.ascii"
    train.write_bytes(train.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(ChecksumError):
        load("coat", root=root, download=False)
    assert load("coat", download=False).num_users == 290


def test_incomplete_folder_does_not_count(data_root: Path, env: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAPHREC_DATA", str(data_root))
    root = tmp_path / "root"
    copy = _copy_coat(data_root, root)
    (copy / "propensities.ascii").unlink()
    assert locate("coat", root=root) == data_root / "coat"


def test_cache_location_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("GRAPHREC_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "graphrec"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "graphrec"


def test_cache_is_searched_last(data_root: Path, env: Path) -> None:
    copy = _copy_coat(data_root, env)
    assert locate("coat") == copy
    assert load("coat", download=False).num_items == 300


# -- verification -----------------------------------------------------------------

def test_checksum_mismatch_names_the_file(data_root: Path, env: Path, tmp_path: Path) -> None:
    copy = _copy_coat(data_root, tmp_path / "root")
    test_file = copy / "test.ascii"
    data = bytearray(test_file.read_bytes())
    data[10] = ord("5") if data[10] != ord("5") else ord("4")
    test_file.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as info:
        load("coat", root=tmp_path / "root", download=False)
    assert info.value.path == str(test_file)
    assert str(test_file) in str(info.value)
    assert info.value.actual_sha256 == hashlib.sha256(bytes(data)).hexdigest()
    # verify=False reads the modified file anyway
    assert load("coat", root=tmp_path / "root", download=False, verify=False).num_users == 290


def test_missing_without_download_names_files_and_folders(env: Path, tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("GRAPHREC_DATA", str(data))
    (data / "gowalla").mkdir()
    (data / "gowalla" / "train.txt").write_text("0 0\n")
    with pytest.raises(DatasetNotFoundError) as info:
        load("gowalla", root=tmp_path / "root", download=False)
    message = str(info.value)
    for folder in (tmp_path / "root" / "gowalla", data / "gowalla", env / "gowalla"):
        assert str(folder) in message
    assert "missing test.txt" in message  # the partial folder under $GRAPHREC_DATA
    assert "train.txt" in message
    assert "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data/gowalla/test.txt" in message
    assert "$GRAPHREC_DATA/gowalla/" in message
    assert "download=False" in message


def _write_tiny_lightgcn(folder: Path) -> Dict[str, str]:
    """3 users x 3 items: train has 6 pairs, test 3; returns sha256 per file."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {"train.txt": b"0 0 1\n1 1 2\n2 0 2\n", "test.txt": b"0 2\n1 0\n2 1\n"}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}


def _tiny_spec(checksums: Dict[str, "str | None"], expected: Dict[str, int], name: str = "tiny-test") -> DatasetSpec:
    return DatasetSpec(
        name=name,
        folder="tiny",
        files=tuple(RemoteFile(f, f"http://127.0.0.1:9/{f}", checksums[f]) for f in ("train.txt", "test.txt")),
        reader=LazyReader(".readers.lightgcn", "read_lightgcn", name=name),
        expected=expected,
    )


def test_statistics_mismatch_lists_each_differing_key(tmp_path: Path, env: Path) -> None:
    checksums = _write_tiny_lightgcn(tmp_path / "tiny")
    spec = _tiny_spec(checksums, {"users": 3, "items": 4, "train": 6, "test": 5})
    with pytest.raises(StatisticsMismatchError) as info:
        load(spec, root=tmp_path, download=False)
    message = str(info.value)
    assert "items: expected 4, found 3" in message
    assert "test: expected 5, found 3" in message
    assert "users" not in message and "train:" not in message
    # a non-default reader argument changes counts, so the check is skipped
    assert len(load(spec, root=tmp_path, download=False, unseen="drop").test) == 3


def test_unknown_checksum_warns_and_still_checks_statistics(tmp_path: Path, env: Path) -> None:
    checksums = _write_tiny_lightgcn(tmp_path / "tiny")
    spec = _tiny_spec({**checksums, "test.txt": None}, {"users": 3, "items": 3, "train": 6, "test": 3})
    with pytest.warns(UnverifiedFileWarning, match="test.txt"):
        dataset = load(spec, root=tmp_path, download=False)
    assert (dataset.num_users, len(dataset.train), len(dataset.test)) == (3, 6, 3)
    wrong = _tiny_spec({**checksums, "test.txt": None}, {"triples": 1})
    with pytest.warns(UnverifiedFileWarning), pytest.raises(StatisticsMismatchError, match="triples: expected 1, found 0"):
        load(wrong, root=tmp_path, download=False)


def test_register_then_load_by_name(tmp_path: Path, env: Path) -> None:
    checksums = _write_tiny_lightgcn(tmp_path / "tiny")
    spec = _tiny_spec(checksums, {"users": 3}, name="tiny-registered")
    register(spec)
    try:
        assert get_spec("tiny-registered") is spec
        assert spec in registered_datasets()
        with pytest.raises(ValueError, match="already registered"):
            register(spec)
        assert load("tiny-registered", root=tmp_path, download=False).name == "tiny-registered"
    finally:
        unregister("tiny-registered")
    with pytest.raises(KeyError):
        get_spec("tiny-registered")


def test_spec_rejects_unknown_statistics_and_paths_outside_the_folder() -> None:
    with pytest.raises(ValueError, match="unknown expected statistics"):
        _tiny_spec({"train.txt": None, "test.txt": None}, {"userz": 3})
    with pytest.raises(ValueError, match="relative path"):
        RemoteFile("../escape.txt", "http://127.0.0.1:9/x")
    with pytest.raises(ValueError, match="sha256"):
        RemoteFile("a.txt", "http://127.0.0.1:9/x", sha256="abc")


def test_expectable_keys_are_the_dataset_statistics_plus_the_total() -> None:
    from graphrec.data.dataset import STAT_KEYS
    from graphrec.data.registry import EXPECTABLE_KEYS

    assert EXPECTABLE_KEYS == STAT_KEYS + ("interactions",)
