"""The dataset registry: where each dataset comes from and what it must contain.

``load("gowalla")`` finds the files, checks them and reads them::

    folder = first of  root/<folder>,  $GRAPHREC_DATA/<folder>,  <cache>/<folder>
             that holds every registered file
    if none: download every missing file into <cache>/<folder>   (when allowed)
    verify:  sha256(file) == RemoteFile.sha256 for every file     (ChecksumError)
    read:    spec.reader(folder, **reader_kwargs) -> RecDataset
    verify:  dataset.stats() ⊇ spec.expected                      (StatisticsMismatchError)

``<cache>`` is ``$GRAPHREC_CACHE``, else ``$XDG_CACHE_HOME/graphrec``, else
``~/.cache/graphrec``. Statistics are compared only when the reader runs with
its default arguments, since other splits or thresholds change the counts.
One card per dataset (source, licence, citation, checksums, statistics) lives
in the project's ``datasets/`` folder.
"""
from __future__ import annotations

import importlib
import os
import tarfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .download import DEFAULT_TIMEOUT, DownloadError, download_file, downloaded_archive, extract_member, sha256_file
from .errors import ChecksumError, DatasetNotFoundError, StatisticsMismatchError

if TYPE_CHECKING:  # the data model imports torch; listing datasets (the CLI) should not
    from .dataset import RecDataset

PathLike = Union[str, "os.PathLike[str]"]

#: statistic names a spec may expect: RecDataset.stats() keys, plus
#: ``interactions`` = train + valid + test (for readers that split at random,
#: where only the total is a property of the data)
#: (a test checks that the first eight equal ``graphrec.data.dataset.STAT_KEYS``)
EXPECTABLE_KEYS = ("users", "items", "train", "valid", "test", "entities", "relations", "triples", "interactions")

#: reader keyword arguments that do not change any count (statistics stay checked)
_NEUTRAL_READER_KWARGS = frozenset({"name"})


class UnverifiedFileWarning(UserWarning):
    """A registered file has no recorded checksum, so its content was not verified."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset folder and where it is published.

    ``name`` is the path inside the dataset folder (``"train.txt"``,
    ``"user_item_features/item_features.ascii"``). ``url`` is the original
    public address; when the source publishes an archive, ``url`` is the
    archive's address and ``archive_member`` the file's path inside it.
    ``sha256`` is the checksum of the file as the reader uses it (the
    extracted member, not the archive); ``None`` means unknown: the file is
    then accepted with an :class:`UnverifiedFileWarning` and only the
    statistics check vouches for it. ``size`` is in bytes, when known.
    """

    name: str
    url: str
    sha256: Optional[str] = None
    size: Optional[int] = None
    archive_member: Optional[str] = None

    def __post_init__(self) -> None:
        if Path(self.name).is_absolute() or ".." in Path(self.name).parts:
            raise ValueError(f"RemoteFile.name must be a relative path inside the folder, got {self.name!r}")
        if self.sha256 is not None and (len(self.sha256) != 64 or not all(c in "0123456789abcdef" for c in self.sha256)):
            raise ValueError(f"{self.name}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")

    @property
    def source(self) -> str:
        """Where to get it, in words: the URL, and the member when it is an archive."""
        return self.url if self.archive_member is None else f"{self.url} (member {self.archive_member})"


class LazyReader:
    """``reader(folder, **kwargs)`` that imports its function only when called.

    Keeps ``import graphrec.data.registry`` independent of the readers, and
    fills in per-dataset arguments (``defaults``, positional ``args`` after the
    folder) that the caller may override by keyword.
    """

    def __init__(self, module: str, function: str, *args: Any, **defaults: Any) -> None:
        self.module = module
        self.function = function
        self.args = args
        self.defaults = defaults

    def __call__(self, folder: PathLike, **kwargs: Any) -> "RecDataset":
        function = getattr(importlib.import_module(self.module, __package__), self.function)
        return function(Path(folder), *self.args, **{**self.defaults, **kwargs})

    def __repr__(self) -> str:
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.defaults.items()]
        return f"{self.function}(folder{''.join(', ' + a for a in arguments)})"


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the registry knows about one dataset.

    ``reader(folder, **kwargs)`` returns the :class:`RecDataset`. ``expected``
    maps a subset of :data:`EXPECTABLE_KEYS` to the published counts that the
    default reading must reproduce. ``citation`` is BibTeX.
    """

    name: str
    folder: str
    files: Tuple[RemoteFile, ...]
    reader: Callable[..., "RecDataset"]
    expected: Mapping[str, int] = field(default_factory=dict)
    citation: str = ""
    licence: str = ""
    homepage: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        unknown = set(self.expected) - set(EXPECTABLE_KEYS)
        if unknown:
            raise ValueError(f"{self.name}: unknown expected statistics {sorted(unknown)}; use {EXPECTABLE_KEYS}")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a file is listed twice in {names}")


# -- the registry ------------------------------------------------------------

_REGISTRY: Dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Add ``spec`` so that ``load(spec.name)`` finds it; ``replace`` to overwrite."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a dataset named {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a registered dataset (tests use it to clean up)."""
    _REGISTRY.pop(name, None)


def registered_datasets() -> List[DatasetSpec]:
    """Every registered dataset, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_spec(name: str) -> DatasetSpec:
    """The spec registered as ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; registered datasets: {', '.join(sorted(_REGISTRY))}") from None


# -- where the files are -------------------------------------------------------

def cache_dir() -> Path:
    """``$GRAPHREC_CACHE``, else ``$XDG_CACHE_HOME/graphrec``, else ``~/.cache/graphrec``."""
    explicit = os.environ.get("GRAPHREC_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "graphrec"


def search_bases(root: Optional[PathLike] = None) -> List[Tuple[str, Path]]:
    """``(label, base)`` in search order: ``root``, ``$GRAPHREC_DATA``, the cache."""
    bases: List[Tuple[str, Path]] = []
    if root is not None:
        bases.append(("root", Path(root).expanduser()))
    data = os.environ.get("GRAPHREC_DATA")
    if data:
        bases.append(("$GRAPHREC_DATA", Path(data).expanduser()))
    bases.append(("cache", cache_dir()))
    return bases


def missing_files(spec: DatasetSpec, folder: Path) -> List[str]:
    """Registered files of ``spec`` that ``folder`` lacks."""
    return [f.name for f in spec.files if not (folder / f.name).is_file()]


def locate(spec: "DatasetSpec | str", root: Optional[PathLike] = None) -> Optional[Path]:
    """The first searched folder that holds every file of ``spec``, or ``None``."""
    spec = _as_spec(spec)
    for _, base in search_bases(root):
        folder = base / spec.folder
        if not missing_files(spec, folder):
            return folder
    return None


def _as_spec(spec: "DatasetSpec | str") -> DatasetSpec:
    return spec if isinstance(spec, DatasetSpec) else get_spec(spec)


# -- verification --------------------------------------------------------------

def verify_checksums(spec: DatasetSpec, folder: PathLike) -> None:
    """Raise :class:`ChecksumError` naming the first file whose sha256 differs.

    Files without a recorded checksum are reported with one
    :class:`UnverifiedFileWarning` instead.
    """
    folder = Path(folder)
    unverified = []
    for remote in spec.files:
        path = folder / remote.name
        if remote.sha256 is None:
            unverified.append(str(path))
            continue
        actual = sha256_file(path)
        if actual != remote.sha256:
            raise ChecksumError(path, remote.sha256, actual)
    if unverified:
        warnings.warn(
            f"{spec.name}: no checksum is recorded for {', '.join(unverified)}; their content was not "
            "verified (the statistics check still applies)",
            UnverifiedFileWarning,
            stacklevel=3,
        )


def observed_statistics(dataset: "RecDataset") -> Dict[str, int]:
    """``dataset.stats()`` plus ``interactions`` = train + valid + test."""
    stats = dict(dataset.stats())
    stats["interactions"] = stats["train"] + stats["valid"] + stats["test"]
    return stats


def check_statistics(spec: DatasetSpec, dataset: "RecDataset", *, folder: Optional[Path] = None) -> None:
    """Raise :class:`StatisticsMismatchError` listing every key where ``dataset`` differs from ``spec.expected``."""
    found = observed_statistics(dataset)
    differences = [
        f"{key}: expected {expected:,}, found {found[key]:,}"
        for key, expected in spec.expected.items()
        if found[key] != expected
    ]
    if differences:
        where = f" (read from {folder})" if folder is not None else ""
        raise StatisticsMismatchError(
            f"{spec.name}{where}: statistics differ from the published ones: " + "; ".join(differences)
        )


# -- downloading -----------------------------------------------------------------

def fetch(
    spec: "DatasetSpec | str",
    folder: Optional[PathLike] = None,
    *,
    verify: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Optional[bool] = None,
) -> Path:
    """Download the files of ``spec`` that ``folder`` (default: the cache) lacks.

    Files already there are never touched. Archive members are extracted one
    by one, each published atomically after its checksum is verified (unless
    ``verify`` is false). Raises :class:`DownloadError` when a URL cannot be
    fetched or an archive lacks a member, and :class:`ChecksumError` when
    bytes differ from the registry.
    """
    spec = _as_spec(spec)
    folder = Path(folder) if folder is not None else cache_dir() / spec.folder
    wanted = [f for f in spec.files if not (folder / f.name).is_file()]
    # group by URL so that an archive holding several files is fetched once
    by_url: Dict[str, List[RemoteFile]] = {}
    for remote in wanted:
        by_url.setdefault(remote.url, []).append(remote)
    for url, remotes in by_url.items():
        plain = [r for r in remotes if r.archive_member is None]
        members = [r for r in remotes if r.archive_member is not None]
        for remote in plain:
            download_file(url, folder / remote.name, sha256=remote.sha256 if verify else None,
                          timeout=timeout, progress=progress)
        if members:
            with downloaded_archive(url, folder, timeout=timeout, progress=progress) as archive:
                for remote in members:
                    try:
                        extract_member(archive, remote.archive_member, folder / remote.name,
                                       sha256=remote.sha256 if verify else None, progress=progress)
                    except (KeyError, ValueError, zipfile.BadZipFile, tarfile.TarError) as error:
                        if isinstance(error, ChecksumError):
                            raise
                        # the server sent something other than the archive we know
                        raise DownloadError(url, f"unusable archive: {error}") from error
    return folder


def _not_found_message(spec: DatasetSpec, root: Optional[PathLike], reason: str) -> str:
    lines = [f"dataset {spec.name!r} was not found ({reason})."]
    lines.append("Searched (a folder counts only when it holds every file):")
    for label, base in search_bases(root):
        folder = base / spec.folder
        if not folder.is_dir():
            state = "no such folder"
        else:
            state = "missing " + ", ".join(missing_files(spec, folder))
        lines.append(f"  {label}: {folder} -- {state}")
    lines.append("Files and where they are published:")
    width = max(len(f.name) for f in spec.files)
    for remote in spec.files:
        lines.append(f"  {remote.name:<{width}}  {remote.source}")
    example = spec.files[0].name
    data = os.environ.get("GRAPHREC_DATA")
    lines.append(
        f"Put all of them in one folder named {spec.folder}/, e.g. $GRAPHREC_DATA/{spec.folder}/{example} "
        f"({'$GRAPHREC_DATA is ' + data if data else 'set GRAPHREC_DATA to the folder that holds ' + spec.folder + '/'}), "
        f"or <root>/{spec.folder}/{example} with load(..., root=<root>), "
        f"or the cache {cache_dir() / spec.folder / example}."
    )
    return "\n".join(lines)


# -- loading -------------------------------------------------------------------

def load(
    name: "str | DatasetSpec",
    root: Optional[PathLike] = None,
    download: bool = True,
    *,
    verify: bool = True,
    **reader_kwargs: Any,
) -> "RecDataset":
    """Find, check and read a registered dataset (see the module docstring).

    ``name`` is a registered name or a :class:`DatasetSpec`. ``verify=False``
    skips checksums and statistics. ``reader_kwargs`` go to the reader (e.g.
    ``seed=1``); any of them other than ``name`` disables the statistics check.
    Raises :class:`DatasetNotFoundError` when the files are missing and cannot
    be downloaded, :class:`ChecksumError` and :class:`StatisticsMismatchError`
    when they are not what the registry records.
    """
    spec = _as_spec(name)
    folder = locate(spec, root)
    if folder is None:
        if not download:
            raise DatasetNotFoundError(_not_found_message(spec, root, "download=False"))
        try:
            folder = fetch(spec, verify=verify)
        except DownloadError as error:
            raise DatasetNotFoundError(_not_found_message(spec, root, f"download failed: {error}")) from error
    if verify:
        verify_checksums(spec, folder)
    dataset = spec.reader(folder, **reader_kwargs)
    if verify and not set(reader_kwargs) - _NEUTRAL_READER_KWARGS:
        check_statistics(spec, dataset, folder=folder)
    return dataset


# -- the registered datasets ---------------------------------------------------------
# Checksums are those of the files the package was validated with; the cards in
# datasets/<name>.md say where they come from and where a copy differs upstream.

_LIGHTGCN_PYTORCH = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data/gowalla"
_KGAT = "https://raw.githubusercontent.com/xiangwang1223/knowledge_graph_attention_network/master/Data/amazon-book"
_KGCN = "https://raw.githubusercontent.com/hwwang55/KGCN/master/data/music"
_RECBOLE = "https://raw.githubusercontent.com/RUCAIBox/RecBole/master"
_COAT_ZIP = "https://www.cs.cornell.edu/~schnabts/mnar/coat.zip"

GOWALLA = DatasetSpec(
    name="gowalla",
    folder="gowalla",
    files=(
        RemoteFile("train.txt", f"{_LIGHTGCN_PYTORCH}/train.txt",
                   "0f086326b28a56c2e6dcb81d86ee72d4ccb7eed3a8d26788392356d8f51111cc", 4633414),
        RemoteFile("test.txt", f"{_LIGHTGCN_PYTORCH}/test.txt",
                   "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3", 1372559),
    ),
    reader=LazyReader(".readers.lightgcn", "read_lightgcn", name="gowalla"),
    expected={"users": 29_858, "items": 40_981, "train": 810_128, "valid": 0, "test": 217_242},
    citation="""@inproceedings{he2020lightgcn,
  title     = {LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation},
  author    = {He, Xiangnan and Deng, Kuan and Wang, Xiang and Li, Yan and Zhang, Yongdong and Wang, Meng},
  booktitle = {Proceedings of the 43rd International ACM SIGIR Conference on Research and Development in Information Retrieval},
  pages     = {639--648},
  year      = {2020},
  doi       = {10.1145/3397271.3401063}
}
@inproceedings{cho2011friendship,
  title     = {Friendship and Mobility: User Movement in Location-Based Social Networks},
  author    = {Cho, Eunjoon and Myers, Seth A. and Leskovec, Jure},
  booktitle = {Proceedings of the 17th ACM SIGKDD International Conference on Knowledge Discovery and Data Mining},
  pages     = {1082--1090},
  year      = {2011},
  doi       = {10.1145/2020408.2020579}
}""",
    licence="No licence file covers the data; research use, cite the papers (Gowalla check-ins from SNAP).",
    homepage="https://github.com/gusye1234/LightGCN-PyTorch",
    description="Gowalla check-ins, the NGCF/LightGCN 80/20 split (10-core); implicit feedback.",
)

AMAZON_BOOK = DatasetSpec(
    name="amazon-book",
    folder="amazon-book",
    files=(
        RemoteFile("train.txt", f"{_KGAT}/train.txt",
                   "4d10106bb06a77e11df660429903c0067aeb85b86431807836b0d8b7edc30c38"),
        RemoteFile("test.txt", f"{_KGAT}/test.txt",
                   "f47eff9d35fb95c07d74251a991478a84095ce6c5969b0dafcb4afe99fc716ec"),
        # published only zipped; the checksum of the extracted file is not recorded
        RemoteFile("kg_final.txt", f"{_KGAT}/kg_final.txt.zip", None, archive_member="kg_final.txt"),
    ),
    reader=LazyReader(".readers.kgat", "read_kgat", name="amazon-book"),
    expected={
        "users": 70_679, "items": 24_915, "train": 652_514, "valid": 0, "test": 193_920,
        "entities": 88_572, "relations": 39, "triples": 2_557_746,
    },
    citation="""@inproceedings{wang2019kgat,
  title     = {{KGAT}: Knowledge Graph Attention Network for Recommendation},
  author    = {Wang, Xiang and He, Xiangnan and Cao, Yixin and Liu, Meng and Chua, Tat-Seng},
  booktitle = {Proceedings of the 25th ACM SIGKDD International Conference on Knowledge Discovery and Data Mining},
  pages     = {950--958},
  year      = {2019},
  doi       = {10.1145/3292500.3330989}
}""",
    licence="KGAT data terms: research use only, acknowledge in publications, no redistribution "
            "without permission, no de-anonymisation, no commercial use.",
    homepage="https://github.com/xiangwang1223/knowledge_graph_attention_network",
    description="Amazon-book reviews (10-core) with a Freebase KG (KB4Rec linkage), KGAT's split.",
)

LASTFM_KGCN = DatasetSpec(
    name="last-fm-kgcn",
    folder="lastfm-kgcn",
    files=(
        RemoteFile("user_artists.dat", f"{_KGCN}/user_artists.dat",
                   "254272fa721c3935e8be286d28c051b206844307128698ab4eaa41d483379416", 1203620),
        RemoteFile("item_index2entity_id.txt", f"{_KGCN}/item_index2entity_id.txt",
                   "f9693bdde538f755d09b9931b0be662a98965e538658a00c2050912c0adf487b", 42414),
        RemoteFile("kg.txt", f"{_KGCN}/kg.txt",
                   "f62bbc8f717c9f68e66dff6faeaa71025092acc11a0f1b4878b953eb05f946a9", 597942),
    ),
    reader=LazyReader(".readers.kgcn", "read_kgcn", name="last-fm-kgcn"),
    # the split is drawn at random by the reader, so only the total is a property of the data
    expected={"users": 1_872, "items": 3_846, "interactions": 21_173,
              "entities": 9_366, "relations": 60, "triples": 15_518},
    citation="""@inproceedings{wang2019kgcn,
  title     = {Knowledge Graph Convolutional Networks for Recommender Systems},
  author    = {Wang, Hongwei and Zhao, Miao and Xie, Xing and Li, Wenjie and Guo, Minyi},
  booktitle = {The World Wide Web Conference},
  pages     = {3307--3313},
  year      = {2019},
  doi       = {10.1145/3308558.3313417}
}
@inproceedings{cantador2011hetrec,
  title     = {Second Workshop on Information Heterogeneity and Fusion in Recommender Systems ({HetRec} 2011)},
  author    = {Cantador, Iv{\\'a}n and Brusilovsky, Peter and Kuflik, Tsvi},
  booktitle = {Proceedings of the 5th ACM Conference on Recommender Systems},
  pages     = {387--388},
  year      = {2011},
  doi       = {10.1145/2043932.2044016}
}""",
    licence="KGCN repository: MIT. Last.FM listening data: HetRec 2011 terms (non-commercial research, "
            "acknowledge Last.fm and the workshop).",
    homepage="https://github.com/hwwang55/KGCN",
    description="Last.FM (HetRec 2011) user-artist listening with KGCN's Microsoft Satori KG.",
)

ML_100K = DatasetSpec(
    name="ml-100k",
    folder="ml-100k",
    files=(
        RemoteFile("ml-100k.inter", f"{_RECBOLE}/dataset/ml-100k/ml-100k.inter",
                   "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff", 1979230),
        RemoteFile("ml-100k.user", f"{_RECBOLE}/dataset/ml-100k/ml-100k.user",
                   "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972", 22697),
        RemoteFile("ml-100k.item", f"{_RECBOLE}/recbole/dataset_example/ml-100k/ml-100k.item",
                   "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532", 66632),
        RemoteFile("ml-100k.kg", f"{_RECBOLE}/recbole/dataset_example/ml-100k/ml-100k.kg",
                   "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779", 3515608),
        RemoteFile("ml-100k.link", f"{_RECBOLE}/recbole/dataset_example/ml-100k/ml-100k.link",
                   "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948", 21507),
    ),
    reader=LazyReader(".readers.recbole", "read_recbole", "ml-100k"),
    expected={"users": 943, "items": 1_682, "interactions": 100_000,
              "entities": 34_628, "relations": 24, "triples": 91_631},
    citation="""@article{harper2015movielens,
  title     = {The {MovieLens} Datasets: History and Context},
  author    = {Harper, F. Maxwell and Konstan, Joseph A.},
  journal   = {ACM Transactions on Interactive Intelligent Systems},
  volume    = {5},
  number    = {4},
  pages     = {19:1--19:19},
  year      = {2015},
  doi       = {10.1145/2827872}
}
@article{zhao2019kb4rec,
  title     = {{KB4Rec}: A Data Set for Linking Knowledge Bases with Recommender Systems},
  author    = {Zhao, Wayne Xin and He, Gaole and Yang, Kunlin and Dou, Hongjian and Huang, Jin and Ouyang, Siqi and Wen, Ji-Rong},
  journal   = {Data Intelligence},
  volume    = {1},
  number    = {2},
  pages     = {121--136},
  year      = {2019},
  doi       = {10.1162/dint_a_00008}
}
@inproceedings{zhao2021recbole,
  title     = {{RecBole}: Towards a Unified, Comprehensive and Efficient Framework for Recommendation Algorithms},
  author    = {Zhao, Wayne Xin and Mu, Shanlei and Hou, Yupeng and Lin, Zihan and Chen, Yushuo and Pan, Xingyu and Li, Kaiyuan and Lu, Yujie and Wang, Hui and Tian, Changxin and others},
  booktitle = {Proceedings of the 30th ACM International Conference on Information and Knowledge Management},
  pages     = {4653--4664},
  year      = {2021},
  doi       = {10.1145/3459637.3482016}
}""",
    licence="MovieLens terms (GroupLens): research use, cite Harper & Konstan, no redistribution without "
            "permission, no commercial use. Freebase triples: CC BY. RecBole code: MIT.",
    homepage="https://github.com/RUCAIBox/RecBole",
    description="MovieLens 100K ratings in RecBole atomic files with a Freebase KG (KB4Rec linkage).",
)

COAT = DatasetSpec(
    name="coat",
    folder="coat",
    files=tuple(
        RemoteFile(name, _COAT_ZIP, sha256, size, archive_member=f"coat/{name}")
        for name, sha256, size in (
            ("train.ascii", "a87bd9e7eaf3b89f976df3f25d4aa5d5d871be8a00b58947df9e6e015559bd37", 174290),
            ("test.ascii", "de6714ab105a5e0be8166be7fd313901b29f9a09c3bea307901457d1d71847e6", 174290),
            ("propensities.ascii", "d1b11b12465dc6e1df35eeed92dfec5e17a997f920d60777cc44571fe9b054e5", 2175290),
            ("user_item_features/user_features.ascii",
             "d8f9531b601c54a7272602f8b21fa6cb4652cbf122e35d8615ea9645ebbf1b1f", 8410),
            ("user_item_features/user_features_map.txt",
             "86dfa86c468f2213b0a7acab072cc8e4bd66d05ed050d1e1f2f452c1e9fd195b", 224),
            ("user_item_features/item_features.ascii",
             "edea8217ec5606779b4d3bf819f7591dc63bcd5194d619e8048c2322d07630b1", 20100),
            ("user_item_features/item_features_map.txt",
             "70f97e53b6469a08ba76d259e92de9a4931f97693d2669f8e8836330d30fc109", 530),
        )
    ),
    reader=LazyReader(".readers.coat", "read_coat", name="coat"),
    expected={"users": 290, "items": 300},
    citation="""@inproceedings{schnabel2016recommendations,
  title     = {Recommendations as Treatments: Debiasing Learning and Evaluation},
  author    = {Schnabel, Tobias and Swaminathan, Adith and Singh, Ashudeep and Chandak, Navin and Joachims, Thorsten},
  booktitle = {Proceedings of the 33rd International Conference on Machine Learning},
  series    = {Proceedings of Machine Learning Research},
  volume    = {48},
  pages     = {1670--1679},
  year      = {2016}
}""",
    licence="No licence is stated with the release; research use, cite the paper.",
    homepage="https://www.cs.cornell.edu/~schnabts/mnar/",
    description="Coat shopping ratings: self-selected (MNAR) train, uniformly random (MAR) test.",
)

for _spec in (GOWALLA, AMAZON_BOOK, LASTFM_KGCN, ML_100K, COAT):
    register(_spec)
