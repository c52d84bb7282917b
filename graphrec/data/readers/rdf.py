"""RDF knowledge graphs (N-Triples, Turtle, RDF/XML, JSON-LD, N3, N-Quads, TriG, ...).

rdflib parses; this module turns what it parses into a :class:`KnowledgeGraph`:

* IRIs and blank nodes in subject or object position are entities, predicates
  whose objects are IRIs or blank nodes are relations. Names are the IRI
  strings; blank nodes are named ``_:b0, _:b1, ...`` in the order in which they
  first occur in the files (files in the order given, subject before object).
  rdflib does not keep a document's own blank-node labels, and blank nodes are
  scoped to their file, as RDF merging prescribes.
* Entity and relation indices follow the sorted names (code-point order), and
  triples are sorted by ``(head, relation, tail)`` with duplicates removed (an
  RDF graph is a set), so the same statements over IRIs give the same arrays
  whatever the syntax or the file order, and the same files give the same
  arrays in every process (blank nodes included).
* Literal objects are data, not nodes: ``literals="drop"`` leaves them out,
  ``"keep"`` stores them in ``entity_attributes``. Their subjects are entities
  either way, so entity indices do not depend on ``literals``.
* Named graphs (N-Quads, TriG, TriX) are merged into one graph.

Syntax errors become :class:`DataFormatError` naming the file, the line rdflib
reports (N-Triples and N-Quads lines are counted here, since rdflib's message
does not say) and rdflib's own message.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import warnings
from pathlib import Path
from typing import IO, Any, Callable, List, Literal, Mapping, Optional, Sequence, Tuple, Union
from xml.sax import SAXException, SAXParseException

import numpy as np
import pandas as pd
import rdflib
from rdflib.parser import InputSource, Parser
from rdflib.plugin import PluginException
from rdflib.plugins.parsers.notation3 import BadSyntax
from rdflib.plugins.parsers.nquads import NQuadsParser
from rdflib.plugins.parsers.ntriples import NTGraphSink, NTParser, W3CNTriplesParser
from rdflib.plugins.stores.memory import Memory
from rdflib.util import guess_format

from ..errors import DataFormatError
from ..idmap import IdMap
from ..knowledge_graph import KnowledgeGraph
from ._tables import read_table

__all__ = ["read_rdf"]

PathLike = Union[str, "os.PathLike[str]"]
LinkSource = Union[PathLike, pd.DataFrame, Mapping[Any, str]]

_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
# RDF/XML ParserErrors start with the SAX locator "systemId:line:column: ".
_LOCATOR = re.compile(r":(\d+):(\d+): ")

_IRI, _BLANK, _LITERAL = 0, 1, 2


def read_rdf(
    paths: PathLike | Sequence[PathLike],
    *,
    format: Optional[str] = None,
    items: Optional[IdMap | Sequence] = None,
    link: Optional[LinkSource] = None,
    item_iri: Optional[str | Callable[[object], str]] = None,
    literals: Literal["drop", "keep"] = "drop",
) -> KnowledgeGraph:
    """Read one or several RDF files into one :class:`KnowledgeGraph`.

    Args:
        paths: a file or a sequence of files; their statements are merged.
            ``.gz``, ``.bz2`` and ``.xz`` files are decompressed on the fly.
        format: an rdflib parser name (``"nt"``, ``"turtle"``, ``"xml"``,
            ``"json-ld"``, ``"n3"``, ``"nquads"``, ``"trig"``, ...) used for
            every file; ``None`` guesses each file's format from its extension
            (:func:`rdflib.util.guess_format`).
        items: the dataset's item raw ids (index order). ``item_entity`` then
            has one entry per item, ``-1`` for items linked to no entity; it is
            empty when ``items`` is ``None``.
        link: explicit alignment, one of: a tab-separated file with a header
            line and two columns ``item<TAB>entity IRI``; a DataFrame with
            columns ``item`` and ``entity``; a mapping item -> IRI. IRIs may be
            written ``<...>``. Items are matched by their text (``str(raw id)``).
            An IRI that occurs nowhere in the graph still becomes an (isolated)
            entity, since the link states that the item is that resource.
        item_iri: alignment by rule: a ``str.format`` template such as
            ``"http://example.org/movie/{}"`` applied to each raw id, or a
            callable raw id -> IRI. Unlike ``link``, a rule is a guess for
            every item, so items whose IRI is not an entity of the graph stay
            unlinked (``-1``).
        literals: ``"drop"`` ignores statements whose object is a literal;
            ``"keep"`` returns them in ``entity_attributes``, a DataFrame with
            columns ``entity`` (entity index), ``predicate`` (IRI),
            ``value`` (``Literal.toPython()``), ``datatype`` and ``language``
            (IRI / tag; missing values are NA), sorted by entity and predicate.

    Raises:
        FileNotFoundError: a file does not exist.
        DataFormatError: a file is not valid in its format (file, line and
            rdflib's message), its format cannot be guessed, the link file or
            table names an unknown item, repeats an item, or links two items
            to one entity.
        ValueError: contradictory or incomplete arguments.
    """
    if literals not in ("drop", "keep"):
        raise ValueError(f"literals must be 'drop' or 'keep', got {literals!r}")
    if link is not None and item_iri is not None:
        raise ValueError("give either link or item_iri, not both")
    if items is None and (link is not None or item_iri is not None):
        raise ValueError("link and item_iri align items: pass the dataset's items as well")
    if items is not None and link is None and item_iri is None:
        raise ValueError("items given without link or item_iri: nothing says which entity stands for which item")
    item_map = None if items is None else (items if isinstance(items, IdMap) else IdMap(items))
    files = _file_list(paths)
    # the link table is checked before the (slow) parse, so that its errors come first
    linked_positions, linked_iris = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    if item_map is not None and link is not None:
        linked_positions, linked_iris = _explicit_links(link, item_map)

    subjects, predicates, objects, file_of = _parse_files(files, format)
    kinds = _term_kinds(subjects, predicates, objects, files, file_of)
    subject_names = _term_names(subjects, kinds[0], file_of)
    predicate_names = _term_names(predicates, kinds[1], file_of)
    object_names = _term_names(objects, kinds[2], file_of)
    _name_blank_nodes(subject_names, object_names, kinds)

    is_link = kinds[2] != _LITERAL

    entity_codes, entity_names = pd.factorize(
        pd.concat(
            [subject_names, object_names[is_link], pd.Series(linked_iris, dtype=object)],
            ignore_index=True,
        ),
        sort=True,
    )
    entity_index = pd.Index(entity_names)
    relation_codes, relation_names = pd.factorize(predicate_names[is_link], sort=True)

    n = len(subject_names)
    head = entity_codes[:n][is_link]
    tail = entity_codes[n : n + int(is_link.sum())]
    triples = np.unique(np.stack([head, relation_codes, tail], axis=1).astype(np.int64), axis=0)

    item_entity = np.zeros(0, dtype=np.int64)
    if item_map is not None:
        item_entity = np.full(len(item_map), -1, dtype=np.int64)
        if link is not None:
            item_entity[linked_positions] = entity_index.get_indexer(linked_iris)
        else:
            item_entity = _rule_links(item_iri, item_map, entity_index)

    attributes = None
    if literals == "keep":
        attributes = _literal_table(
            entity_codes[:n][~is_link], predicate_names[~is_link], objects[~is_link]
        )
    return KnowledgeGraph(
        head=triples[:, 0],
        relation=triples[:, 1],
        tail=triples[:, 2],
        entity_names=np.asarray(entity_names, dtype=object),
        relation_names=np.asarray(relation_names, dtype=object),
        item_entity=item_entity,
        entity_attributes=attributes,
    )


# --------------------------------------------------------------------------- parsing


class _RecordingStore(Memory):
    """An rdflib store that only records asserted statements in arrival order.

    Parsers never read back what they add, so nothing is indexed: the triples
    are consumed once, in parse order, which (unlike the order of Memory's
    hash sets) is the same in every process and makes blank-node names
    reproducible. Quoted statements (inside N3 formulas) are not asserted and
    are not recorded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.subjects: List[Any] = []
        self.predicates: List[Any] = []
        self.objects: List[Any] = []

    def add(self, triple: Any, context: Any, quoted: bool = False) -> None:
        if not quoted:
            subject, predicate, object_ = triple
            self.subjects.append(subject)
            self.predicates.append(predicate)
            self.objects.append(object_)


class _CountLines:
    """Mixin for rdflib's N-Triples-family parsers: count the lines read, since
    their ``ParserError`` quotes the bad line but not its number."""

    __slots__ = ()

    def readline(self) -> Optional[str]:
        line = super().readline()  # type: ignore[misc]
        if line is not None:
            self.line_number += 1  # type: ignore[attr-defined]
        return line


class _NTriplesParser(_CountLines, W3CNTriplesParser):
    __slots__ = ("line_number",)

    def __init__(self, sink: Any) -> None:
        super().__init__(sink)
        self.line_number = 0


class _NQuadsParser(_CountLines, NQuadsParser):
    __slots__ = ("line_number",)

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0


def _file_list(paths: "PathLike | Sequence[PathLike]") -> List[Path]:
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not files:
        raise ValueError("no RDF file given")
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(2, "RDF file not found", str(path))
    return files


def _compression(path: Path) -> Optional[str]:
    suffix = path.suffix.lower()
    return suffix if suffix in _COMPRESSED else None


def _format_of(path: Path, format: Optional[str]) -> str:
    if format is None:
        name = path.name[: -len(path.suffix)] if _compression(path) else path.name
        format = guess_format(name)
        if format is None:
            raise DataFormatError(
                path,
                "an RDF file extension rdflib recognises (.nt, .nq, .ttl, .trig, .n3, .rdf, .owl, .xml, "
                ".jsonld, ...) or an explicit format=",
                found=f"the name {path.name!r}",
            )
    try:
        rdflib.plugin.get(format, Parser)
    except PluginException:
        known = sorted({p.name for p in rdflib.plugin.plugins(kind=Parser)})
        raise ValueError(f"unknown RDF format {format!r}; rdflib parses: {', '.join(known)}") from None
    return format


def _open_binary(path: Path) -> IO[bytes]:
    opener = _COMPRESSED.get(_compression(path) or "", open)
    return opener(path, "rb")  # type: ignore[operator]


def _open_text(path: Path) -> IO[str]:
    # newline="" hands CR, LF and CRLF to rdflib unchanged: its line splitter
    # knows all three, so the lines it counts are the file's lines.
    opener = _COMPRESSED.get(_compression(path) or "", open)
    return opener(path, "rt", encoding="utf-8", newline="")  # type: ignore[operator]


def _parse_files(
    files: Sequence[Path], format: Optional[str]
) -> Tuple[pd.Series, pd.Series, pd.Series, np.ndarray]:
    """Subjects, predicates and objects (rdflib terms, object dtype) of every
    asserted statement, and the index of the file each came from."""
    store = _RecordingStore()
    dataset = rdflib.Dataset(store=store)
    ends = []
    with warnings.catch_warnings():
        # rdflib's own parsers still use its deprecated ConjunctiveGraph API;
        # nothing a caller of read_rdf could act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"rdflib\b")
        for path in files:
            _parse_file(path, _format_of(path, format), dataset)
            ends.append(len(store.subjects))
    counts = np.diff(np.asarray([0] + ends, dtype=np.int64))
    file_of = np.repeat(np.arange(len(files), dtype=np.int64), counts)
    return (
        _object_series(store.subjects),
        _object_series(store.predicates),
        _object_series(store.objects),
        file_of,
    )


def _object_series(values: List[Any]) -> pd.Series:
    # An explicit object array: pandas would otherwise turn the terms (str
    # subclasses) into plain strings and lose whether each is an IRI or a literal.
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object)


def _parse_file(path: Path, format: str, dataset: rdflib.Dataset) -> None:
    parser_class = rdflib.plugin.get(format, Parser)
    line_parser: Optional[_CountLines] = None
    try:
        if issubclass(parser_class, NQuadsParser):
            line_parser = _NQuadsParser()
            with _open_text(path) as stream:
                source = InputSource()
                source.setCharacterStream(stream)
                line_parser.parse(source, dataset)
        elif issubclass(parser_class, NTParser):
            line_parser = _NTriplesParser(NTGraphSink(dataset))
            with _open_text(path) as stream:
                line_parser.parse(stream)
        else:
            with _open_binary(path) as stream:
                dataset.parse(source=stream, format=format, publicID=path.resolve().as_uri())
    except (rdflib.exceptions.Error, SyntaxError, SAXException, ValueError, UnicodeError) as error:
        raise _syntax_error(path, format, error, line_parser) from error


def _syntax_error(path: Path, format: str, error: Exception, line_parser: Any) -> DataFormatError:
    """Where rdflib says the file went wrong, as a :class:`DataFormatError`."""
    message = " ".join(str(error).split()) or type(error).__name__
    line: Optional[int] = None
    if isinstance(error, UnicodeError):
        expected = "UTF-8 text"
    else:
        expected = f"valid RDF ({format})"
        if isinstance(error, BadSyntax):
            line = error.lines + 1  # rdflib counts newlines passed, from 0
        elif isinstance(error, SAXParseException):
            line = error.getLineNumber()
        elif isinstance(error, rdflib.exceptions.ParserError) and line_parser is not None:
            line = line_parser.line_number
        elif isinstance(error, rdflib.exceptions.ParserError):
            located = _LOCATOR.search(error.msg)  # RDF/XML grammar errors
            line = int(located.group(1)) if located else None
        elif hasattr(error, "lineno") and isinstance(getattr(error, "lineno"), int):
            line = error.lineno  # json.JSONDecodeError (JSON-LD)
    return DataFormatError(path, expected, line=line, found=f"rdflib: {message}")


# --------------------------------------------------------------------------- terms


def _kind_of(term_type: type) -> int:
    if issubclass(term_type, rdflib.URIRef):
        return _IRI
    if issubclass(term_type, rdflib.BNode):
        return _BLANK
    if issubclass(term_type, rdflib.Literal):
        return _LITERAL
    return -1


def _term_kinds(
    subjects: pd.Series, predicates: pd.Series, objects: pd.Series, files: Sequence[Path], file_of: np.ndarray
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IRI / blank / literal code of each term; a term a knowledge graph cannot
    hold (N3 formulas and variables, literal subjects, non-IRI predicates) is an error."""
    kinds = []
    for position, terms, allowed in (
        ("subject", subjects, (_IRI, _BLANK)),
        ("predicate", predicates, (_IRI,)),
        ("object", objects, (_IRI, _BLANK, _LITERAL)),
    ):
        types = terms.map(type)
        # one issubclass test per distinct term class, not per statement
        kind = types.map({t: _kind_of(t) for t in types.unique()}).to_numpy(dtype=np.int8)
        bad = np.flatnonzero(~np.isin(kind, allowed))
        if bad.size:
            first = int(bad[0])
            raise DataFormatError(
                files[file_of[first]],
                f"a {position} that is an {' or '.join(('IRI', 'blank node', 'literal')[k] for k in allowed)}",
                found=f"{type(terms.iloc[first]).__name__} {str(terms.iloc[first])[:80]!r}",
            )
        kinds.append(kind)
    return kinds[0], kinds[1], kinds[2]


def _term_names(terms: pd.Series, kind: np.ndarray, file_of: np.ndarray) -> pd.Series:
    """Plain strings: IRIs as themselves; blank nodes as ``file:label``
    placeholders (renamed by :func:`_name_blank_nodes`); literals as their lexical form."""
    names = terms.astype(object).map(str)
    blank = kind == _BLANK
    if blank.any():
        file_text = pd.Series(file_of[blank]).astype(str).to_numpy(dtype=object)
        names[blank] = file_text + ":" + names[blank].to_numpy(dtype=object)
    return names


def _name_blank_nodes(
    subject_names: pd.Series, object_names: pd.Series, kinds: Tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    """Rename blank nodes ``_:b{k}`` in order of first occurrence (in place)."""
    n = len(subject_names)
    interleaved = np.empty(2 * n, dtype=object)
    interleaved[0::2] = subject_names.to_numpy(dtype=object)
    interleaved[1::2] = object_names.to_numpy(dtype=object)
    blank = np.empty(2 * n, dtype=bool)
    blank[0::2] = kinds[0] == _BLANK
    blank[1::2] = kinds[2] == _BLANK
    if not blank.any():
        return
    codes, _ = pd.factorize(interleaved[blank])  # order of first appearance
    renamed = interleaved.copy()
    renamed[blank] = "_:b" + pd.Series(codes).astype(str).to_numpy(dtype=object)
    subject_names[:] = renamed[0::2]
    object_names[:] = renamed[1::2]


def _literal_table(entity: np.ndarray, predicate: pd.Series, literal: pd.Series) -> pd.DataFrame:
    def optional_str(value: Any) -> Optional[str]:
        return None if value is None else str(value)

    table = pd.DataFrame(
        {
            "entity": np.asarray(entity, dtype=np.int64),
            "predicate": predicate.to_numpy(dtype=object),
            "value": literal.map(lambda term: term.toPython()).to_numpy(dtype=object),
            "datatype": literal.map(lambda term: optional_str(term.datatype)).to_numpy(dtype=object),
            "language": literal.map(lambda term: optional_str(term.language)).to_numpy(dtype=object),
        }
    )
    # An RDF graph is a set: the same literal statement twice (two files, two
    # named graphs) is one statement. Sorting on the lexical form, datatype and
    # language makes the row order independent of the syntax and the file order.
    keys = pd.DataFrame(
        {
            "entity": table["entity"],
            "predicate": table["predicate"],
            "lexical": literal.map(str).to_numpy(dtype=object),
            "datatype": table["datatype"].fillna(""),
            "language": table["language"].fillna(""),
        }
    )
    keys = keys.loc[~keys.duplicated()].sort_values(list(keys.columns), kind="stable")
    return table.loc[keys.index].reset_index(drop=True)


# --------------------------------------------------------------------------- items


def _item_text_index(items: IdMap) -> pd.Index:
    index = pd.Index(pd.Series(items.raw, dtype=object).map(str).to_numpy(dtype=object))
    if not index.is_unique:
        raise ValueError("two item raw ids have the same text; link items are matched by text")
    return index


def _clean_iris(entities: pd.Series) -> pd.Series:
    entities = entities.astype(object).map(str).str.strip()
    bracketed = entities.str.startswith("<") & entities.str.endswith(">")
    return entities.where(~bracketed, entities.str.slice(1, -1))


def _pairs(items: Any, entities: Any, lines: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": pd.Series(np.asarray(items, dtype=object), dtype=object).map(str).str.strip(),
            "entity": _clean_iris(pd.Series(np.asarray(entities, dtype=object), dtype=object)),
            "line": np.asarray(lines, dtype=np.int64),
        }
    )


def _link_table(link: LinkSource) -> Tuple[pd.DataFrame, str, str]:
    """Columns ``item`` (text), ``entity`` (IRI) and ``line``, plus the names of
    the source and of its rows for error messages. DataFrame rows and mapping
    entries are numbered from 0, file lines from 1 (the header is line 1)."""
    if isinstance(link, pd.DataFrame):
        missing = sorted({"item", "entity"} - set(link.columns))
        if missing:
            raise ValueError(f"a link DataFrame needs columns 'item' and 'entity'; missing {missing}")
        return _pairs(link["item"], link["entity"], np.arange(len(link))), "<link DataFrame>", "row"
    if isinstance(link, Mapping):
        return _pairs(list(link.keys()), list(link.values()), np.arange(len(link))), "<link mapping>", "entry"
    table = read_table(link, sep="\t", header=True, min_rows=0)
    if table.frame.shape[1] != 2:
        raise DataFormatError(
            table.path,
            "a header of two tab-separated columns: item, entity IRI",
            line=table.header_line,
            found=f"columns {list(table.frame.columns)}",
        )
    frame = _pairs(table.frame.iloc[:, 0], table.frame.iloc[:, 1], table.lines)
    return frame, os.fspath(table.path), "line"


def _explicit_links(link: LinkSource, items: IdMap) -> Tuple[np.ndarray, np.ndarray]:
    """Item positions and the IRI each is linked to; every row must name a
    known item, no item may have two entities and no entity two items."""
    frame, source, location = _link_table(link)

    def fail(row: int, expected: str, found: str) -> DataFormatError:
        line = int(frame["line"].iloc[row])
        return DataFormatError(source, expected, line=line, found=found, location=location)

    item, entity = frame["item"], frame["entity"]
    empty = np.flatnonzero(((item == "") | (entity == "")).to_numpy())
    if empty.size:
        row = int(empty[0])
        raise fail(row, "an item id and an entity IRI", f"item {item.iloc[row]!r}, entity {entity.iloc[row]!r}")
    positions = _item_text_index(items).get_indexer(item.to_numpy(dtype=object))
    unknown = np.flatnonzero(positions < 0)
    if unknown.size:
        row = int(unknown[0])
        raise fail(row, "an item of the dataset", f"item {item.iloc[row]!r}, not among the {len(items)} items")

    repeated = frame.duplicated(["item", "entity"]).to_numpy()  # the same link twice is harmless
    for column, other, what in (("item", "entity", "one entity per item"), ("entity", "item", "one item per entity")):
        clash = np.flatnonzero(frame[column].duplicated().to_numpy() & ~repeated)
        if clash.size:
            row = int(clash[0])
            value = frame[column].iloc[row]
            first = int(np.flatnonzero((frame[column] == value).to_numpy())[0])
            raise fail(
                row,
                what,
                f"{column} {value!r} linked to {other} {frame[other].iloc[row]!r} and, "
                f"at {location} {int(frame['line'].iloc[first])}, to {other} {frame[other].iloc[first]!r}",
            )
    return positions[~repeated].astype(np.int64), entity.to_numpy(dtype=object)[~repeated]


def _rule_links(item_iri: "str | Callable[[object], str]", items: IdMap, entities: pd.Index) -> np.ndarray:
    """``item_entity`` from a template or a callable; IRIs absent from the graph stay -1."""
    if isinstance(item_iri, str):
        if "{" not in item_iri:
            raise ValueError(f"item_iri template {item_iri!r} has no '{{}}' for the raw id")
        rule: Callable[[object], str] = item_iri.format
    elif callable(item_iri):
        rule = item_iri
    else:
        raise TypeError(f"item_iri must be a str template or a callable, got {type(item_iri).__name__}")
    iris = pd.Series(items.raw, dtype=object).map(rule).map(str).to_numpy(dtype=object)
    item_entity = entities.get_indexer(iris).astype(np.int64)
    linked = item_entity[item_entity >= 0]
    if len(np.unique(linked)) != len(linked):
        values, counts = np.unique(linked, return_counts=True)
        entity = values[counts > 1][0]
        both = items.raw[item_entity == entity][:2].tolist()
        raise ValueError(
            f"item_iri maps items {both} to the same entity {entities[entity]!r}; each entity may stand for one item"
        )
    return item_entity
