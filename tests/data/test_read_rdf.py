"""read_rdf: the same statements in every RDF syntax give the same KnowledgeGraph.

Expected names, counts and triple sets are written out by hand below; the real-data
test re-counts the ML-100K Freebase rows with pandas.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import DataFormatError, IdMap, read_rdf

EX = "http://example.org/"
XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"

# The hand-made graph: 7 statements between resources, 4 with literal objects.
LINK_TRIPLES = {
    ("movie/1", "directedBy", "person/a"),
    ("movie/1", "starring", "person/b"),
    ("movie/1", "starring", "person/c"),
    ("movie/2", "starring", "person/b"),
    ("movie/1", "genre", "genre/drama"),
    ("movie/2", "genre", "genre/drama"),
    ("person/a", "bornIn", "place/x"),
}
# movie/3 only has a title: it is an entity with no triple.
ENTITIES = sorted(EX + name for name in (
    "movie/1", "movie/2", "movie/3", "person/a", "person/b", "person/c", "genre/drama", "place/x",
))
RELATIONS = [EX + name for name in ("bornIn", "directedBy", "genre", "starring")]

NTRIPLES = f"""\
# the hand-made graph in N-Triples (one statement is repeated on purpose)
<{EX}movie/1> <{EX}directedBy> <{EX}person/a> .
<{EX}movie/1> <{EX}starring> <{EX}person/b> .
<{EX}movie/1> <{EX}starring> <{EX}person/c> .
<{EX}movie/2> <{EX}starring> <{EX}person/b> .
<{EX}movie/1> <{EX}genre> <{EX}genre/drama> .
<{EX}movie/2> <{EX}genre> <{EX}genre/drama> .
<{EX}person/a> <{EX}bornIn> <{EX}place/x> .
<{EX}movie/1> <{EX}starring> <{EX}person/b> .
<{EX}movie/1> <{EX}title> "Toy Story"@en .
<{EX}movie/2> <{EX}title> "GoldenEye" .
<{EX}movie/2> <{EX}year> "1995"^^<{XSD_INTEGER}> .
<{EX}movie/3> <{EX}title> "Heat" .
"""

TURTLE = f"""\
@prefix ex: <{EX}> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

ex:movie\\/1 ex:directedBy <{EX}person/a> ;
    ex:starring <{EX}person/b>, <{EX}person/c> ;
    ex:genre <{EX}genre/drama> ;
    ex:title "Toy Story"@en .
<{EX}movie/2> ex:starring <{EX}person/b> ;
    ex:genre <{EX}genre/drama> ;
    ex:title "GoldenEye" ;
    ex:year 1995 .
<{EX}person/a> ex:bornIn <{EX}place/x> .
<{EX}movie/3> ex:title "Heat" .
"""

N3 = TURTLE  # Turtle is a subset of N3; rdflib parses it with its N3 parser

RDFXML = f"""\
<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:ex="{EX}">
  <rdf:Description rdf:about="{EX}movie/1">
    <ex:directedBy rdf:resource="{EX}person/a"/>
    <ex:starring rdf:resource="{EX}person/b"/>
    <ex:starring rdf:resource="{EX}person/c"/>
    <ex:genre rdf:resource="{EX}genre/drama"/>
    <ex:title xml:lang="en">Toy Story</ex:title>
  </rdf:Description>
  <rdf:Description rdf:about="{EX}movie/2">
    <ex:starring rdf:resource="{EX}person/b"/>
    <ex:genre rdf:resource="{EX}genre/drama"/>
    <ex:title>GoldenEye</ex:title>
    <ex:year rdf:datatype="{XSD_INTEGER}">1995</ex:year>
  </rdf:Description>
  <rdf:Description rdf:about="{EX}person/a">
    <ex:bornIn rdf:resource="{EX}place/x"/>
  </rdf:Description>
  <rdf:Description rdf:about="{EX}movie/3">
    <ex:title>Heat</ex:title>
  </rdf:Description>
</rdf:RDF>
"""

JSONLD = json.dumps(
    {
        "@context": {"ex": EX, "xsd": "http://www.w3.org/2001/XMLSchema#"},
        "@graph": [
            {
                "@id": "ex:movie/1",
                "ex:directedBy": {"@id": "ex:person/a"},
                "ex:starring": [{"@id": "ex:person/b"}, {"@id": "ex:person/c"}],
                "ex:genre": {"@id": "ex:genre/drama"},
                "ex:title": {"@value": "Toy Story", "@language": "en"},
            },
            {
                "@id": "ex:movie/2",
                "ex:starring": {"@id": "ex:person/b"},
                "ex:genre": {"@id": "ex:genre/drama"},
                "ex:title": "GoldenEye",
                "ex:year": {"@value": "1995", "@type": "xsd:integer"},
            },
            {"@id": "ex:person/a", "ex:bornIn": {"@id": "ex:place/x"}},
            {"@id": "ex:movie/3", "ex:title": "Heat"},
        ],
    },
    indent=1,
)

# The same statements spread over two named graphs (one repeated in both).
NQUADS = "".join(
    line.replace(" .", f" <{EX}graph/{k % 2}> .") + "\n"
    for k, line in enumerate(NTRIPLES.splitlines()[1:])
)
TRIG = f"""\
@prefix ex: <{EX}> .
ex:graph\\/0 {{
  <{EX}movie/1> ex:directedBy <{EX}person/a> ; ex:starring <{EX}person/b>, <{EX}person/c> ;
      ex:genre <{EX}genre/drama> ; ex:title "Toy Story"@en .
  <{EX}movie/2> ex:starring <{EX}person/b> ; ex:title "GoldenEye" ; ex:year 1995 .
}}
<{EX}graph/1> {{
  <{EX}person/a> ex:bornIn <{EX}place/x> .
  <{EX}movie/3> ex:title "Heat" .
  <{EX}movie/2> ex:genre <{EX}genre/drama> .
  <{EX}movie/1> ex:starring <{EX}person/b> .
}}
"""

SYNTAXES = {
    "graph.nt": NTRIPLES,
    "graph.ttl": TURTLE,
    "graph.rdf": RDFXML,
    "graph.jsonld": JSONLD,
    "graph.n3": N3,
    "graph.nq": NQUADS,
    "graph.trig": TRIG,
}


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def named_triples(kg) -> set:
    return {
        (kg.entity_names[h], kg.relation_names[r], kg.entity_names[t])
        for h, r, t in zip(kg.head, kg.relation, kg.tail)
    }


HAND_TRIPLES = {(EX + h, EX + r, EX + t) for h, r, t in LINK_TRIPLES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return read_rdf(write(tmp_path_factory.mktemp("nt"), "graph.nt", NTRIPLES))


@pytest.mark.parametrize("name", sorted(SYNTAXES))
def test_every_syntax_gives_the_hand_counted_graph(tmp_path, name, reference):
    kg = read_rdf(write(tmp_path, name, SYNTAXES[name]))
    assert kg.entity_names.tolist() == ENTITIES
    assert kg.relation_names.tolist() == RELATIONS
    assert (kg.num_entities, kg.num_relations, kg.num_triples) == (8, 4, 7)
    assert named_triples(kg) == HAND_TRIPLES
    # identical arrays, not only identical sets: indices and triple order do not depend on the syntax
    for field in ("head", "relation", "tail"):
        np.testing.assert_array_equal(getattr(kg, field), getattr(reference, field))
    assert kg.head.dtype == np.int64
    assert kg.item_entity.shape == (0,)
    assert kg.entity_attributes is None


def test_triples_are_sorted_and_unique(reference):
    rows = np.stack([reference.head, reference.relation, reference.tail], axis=1)
    assert len({tuple(row) for row in rows.tolist()}) == len(rows) == 7
    assert rows.tolist() == sorted(rows.tolist())


def test_explicit_format_overrides_the_extension(tmp_path):
    kg = read_rdf(write(tmp_path, "graph.txt", TURTLE), format="turtle")
    assert named_triples(kg) == HAND_TRIPLES


def test_several_files_are_merged(tmp_path):
    lines = NTRIPLES.splitlines(keepends=True)
    first = write(tmp_path, "a.nt", "".join(lines[:6]))
    second = write(tmp_path, "b.ttl", TURTLE)  # overlaps the first file entirely
    kg = read_rdf([first, second])
    assert named_triples(kg) == HAND_TRIPLES
    assert kg.entity_names.tolist() == ENTITIES


def test_compressed_file(tmp_path):
    path = tmp_path / "graph.nt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(NTRIPLES)
    kg = read_rdf(path)
    assert named_triples(kg) == HAND_TRIPLES


# ------------------------------------------------------------------ literals


@pytest.mark.parametrize("name", ["graph.nt", "graph.ttl", "graph.rdf", "graph.jsonld"])
def test_literals_kept(tmp_path, name):
    kept = read_rdf(write(tmp_path, name, SYNTAXES[name]), literals="keep")
    dropped = read_rdf(write(tmp_path, name, SYNTAXES[name]))
    # the graph itself does not change
    assert kept.entity_names.tolist() == dropped.entity_names.tolist() == ENTITIES
    assert named_triples(kept) == HAND_TRIPLES
    table = kept.entity_attributes
    assert list(table.columns) == ["entity", "predicate", "value", "datatype", "language"]
    rows = {
        (kept.entity_names[e], p, v, None if pd.isna(d) else d, None if pd.isna(lang) else lang)
        for e, p, v, d, lang in table.itertuples(index=False)
    }
    assert rows == {
        (EX + "movie/1", EX + "title", "Toy Story", None, "en"),
        (EX + "movie/2", EX + "title", "GoldenEye", None, None),
        (EX + "movie/2", EX + "year", 1995, XSD_INTEGER, None),
        (EX + "movie/3", EX + "title", "Heat", None, None),
    }
    year = table.loc[table["predicate"] == EX + "year", "value"].iloc[0]
    assert isinstance(year, int) and not isinstance(year, bool)
    assert table["entity"].tolist() == sorted(table["entity"].tolist())


def test_unknown_literals_option(tmp_path):
    with pytest.raises(ValueError, match="literals"):
        read_rdf(write(tmp_path, "g.nt", NTRIPLES), literals="attach")


# ------------------------------------------------------------------ blank nodes


BLANK_TTL = f"""\
@prefix ex: <{EX}> .
ex:a ex:p _:x .
_:x ex:p _:y .
_:y ex:q ex:b .
ex:b ex:r [ ex:q ex:a ] .
"""


def test_blank_nodes_named_in_order_of_appearance(tmp_path):
    kg = read_rdf(write(tmp_path, "blank.ttl", BLANK_TTL))
    assert kg.entity_names.tolist() == ["_:b0", "_:b1", "_:b2", EX + "a", EX + "b"]
    assert named_triples(kg) == {
        (EX + "a", EX + "p", "_:b0"),
        ("_:b0", EX + "p", "_:b1"),
        ("_:b1", EX + "q", EX + "b"),
        (EX + "b", EX + "r", "_:b2"),
        ("_:b2", EX + "q", EX + "a"),
    }


def test_blank_nodes_are_scoped_to_their_file(tmp_path):
    one = write(tmp_path, "one.nt", f"_:x <{EX}p> <{EX}a> .\n")
    two = write(tmp_path, "two.nt", f"_:x <{EX}p> <{EX}b> .\n")
    kg = read_rdf([one, two])
    assert kg.entity_names.tolist() == ["_:b0", "_:b1", EX + "a", EX + "b"]
    assert named_triples(kg) == {("_:b0", EX + "p", EX + "a"), ("_:b1", EX + "p", EX + "b")}


def test_blank_node_names_do_not_depend_on_the_process(tmp_path):
    path = write(tmp_path, "nested.ttl", f"""\
@prefix ex: <{EX}> .
ex:a ex:p [ ex:q [ ex:q ex:b ; ex:r ( ex:a ex:b ) ] ; ex:r [ ex:q ex:c ] ] .
ex:c ex:p [ ex:q ex:a ] , [ ex:q ex:b ] .
""")
    script = (
        "import sys; from graphrec.data import read_rdf; kg = read_rdf(sys.argv[1]);"
        "print(sorted(zip(kg.entity_names[kg.head], kg.relation_names[kg.relation], kg.entity_names[kg.tail])))"
    )
    # another hash seed than this process's: the store's hash-set order would differ
    seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    other = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True, text=True, check=True,
    ).stdout
    kg = read_rdf(path)
    here = sorted(zip(kg.entity_names[kg.head], kg.relation_names[kg.relation], kg.entity_names[kg.tail]))
    assert other.strip() == str(here)
    # 7 blank nodes (2 of them list cells), ex:a, ex:b, ex:c, rdf:nil
    assert kg.num_entities == 11 and kg.num_triples == 14


# ------------------------------------------------------------------ items


@pytest.fixture
def nt_file(tmp_path) -> Path:
    return write(tmp_path, "graph.nt", NTRIPLES)


def linked_names(kg, items) -> dict:
    return {
        item: (kg.entity_names[e] if e >= 0 else None)
        for item, e in zip(items, kg.item_entity.tolist())
    }


def test_link_file(tmp_path, nt_file):
    link = write(
        tmp_path, "items.link",
        f"item_id:token\tentity_id:token\n1\t<{EX}movie/1>\n\n2\t{EX}movie/2\n3\t{EX}movie/99\n",
    )
    kg = read_rdf(nt_file, items=[1, 2, 3, 4], link=link)
    assert kg.item_entity.shape == (4,)
    assert linked_names(kg, [1, 2, 3, 4]) == {1: EX + "movie/1", 2: EX + "movie/2", 3: EX + "movie/99", 4: None}
    # movie/99 occurs in no statement: it is added as an isolated entity
    assert kg.num_entities == 9 and EX + "movie/99" in kg.entity_names.tolist()
    assert kg.entity_names.tolist() == sorted(ENTITIES + [EX + "movie/99"])
    assert named_triples(kg) == HAND_TRIPLES


def test_link_dataframe_and_mapping(nt_file):
    items = IdMap(np.array(["m1", "m2", "m3"], dtype=object))
    frame = pd.DataFrame({"item": ["m2", "m1"], "entity": [EX + "movie/2", EX + "movie/1"]})
    mapping = {"m2": EX + "movie/2", "m1": EX + "movie/1"}
    for link in (frame, mapping):
        kg = read_rdf(nt_file, items=items, link=link)
        assert linked_names(kg, ["m1", "m2", "m3"]) == {"m1": EX + "movie/1", "m2": EX + "movie/2", "m3": None}
        assert kg.num_entities == 8


def test_item_iri_template_and_callable(nt_file):
    items = [1, 2, 3, 5]
    expected = {1: EX + "movie/1", 2: EX + "movie/2", 3: EX + "movie/3", 5: None}  # movie/5 is not in the graph
    for rule in (EX + "movie/{}", lambda raw: f"{EX}movie/{raw}"):
        kg = read_rdf(nt_file, items=items, item_iri=rule)
        assert linked_names(kg, items) == expected
        assert kg.num_entities == 8  # a rule adds no entity


def test_link_to_unknown_item_names_file_line_and_item(tmp_path, nt_file):
    link = write(tmp_path, "items.link", f"item\tentity\n1\t{EX}movie/1\n\n7\t{EX}movie/2\n")
    with pytest.raises(DataFormatError) as caught:
        read_rdf(nt_file, items=[1, 2], link=link)
    assert caught.value.line == 4
    message = str(caught.value)
    assert "items.link, line 4" in message and "'7'" in message


def test_link_dataframe_unknown_item_names_row(nt_file):
    frame = pd.DataFrame({"item": [1, 9], "entity": [EX + "movie/1", EX + "movie/2"]})
    with pytest.raises(DataFormatError, match=r"row 1.*'9'"):
        read_rdf(nt_file, items=[1, 2], link=frame)


def test_two_items_linked_to_one_entity(tmp_path, nt_file):
    link = write(tmp_path, "items.link", f"item\tentity\n1\t{EX}movie/1\n2\t{EX}movie/2\n3\t<{EX}movie/1>\n")
    with pytest.raises(DataFormatError) as caught:
        read_rdf(nt_file, items=[1, 2, 3], link=link)
    assert caught.value.line == 4 and "line 2" in str(caught.value)


def test_one_item_linked_to_two_entities(tmp_path, nt_file):
    link = write(tmp_path, "items.link", f"item\tentity\n1\t{EX}movie/1\n1\t{EX}movie/1\n1\t{EX}movie/2\n")
    with pytest.raises(DataFormatError) as caught:
        read_rdf(nt_file, items=[1, 2], link=link)
    assert caught.value.line == 4  # the repeated identical line 3 is harmless


def test_template_mapping_two_items_to_one_entity(nt_file):
    with pytest.raises(ValueError, match="same entity"):
        read_rdf(nt_file, items=[1, 2, 3], item_iri=lambda raw: EX + ("movie/1" if raw < 3 else "movie/3"))


def test_alignment_argument_errors(nt_file):
    with pytest.raises(ValueError, match="items"):
        read_rdf(nt_file, link={1: EX + "movie/1"})
    with pytest.raises(ValueError, match="either"):
        read_rdf(nt_file, items=[1], link={1: EX + "movie/1"}, item_iri=EX + "movie/{}")
    with pytest.raises(ValueError, match="link or item_iri"):
        read_rdf(nt_file, items=[1])


# ------------------------------------------------------------------ errors


NT_BAD = f"""\
<{EX}a> <{EX}p> <{EX}b> .

# comment
<{EX}a> <{EX}p> <{EX}c> .
<{EX}a> <{EX}p> oops .
"""
NQ_BAD = f"<{EX}a> <{EX}p> <{EX}b> <{EX}g> .\n<{EX}a> <{EX}p> <{EX}b> <{EX}g> . junk\n"
TTL_BAD = f'''\
@prefix ex: <{EX}> .

ex:a ex:p ex:b ;
   ex:q """two
lines""" .
ex:a ex:p ex:b ex:c .
'''
JSONLD_BAD = """\
{
  "@id": "http://example.org/a",
  "http://example.org/p": {"@id": "http://example.org/b"},
}
"""
BAD = {
    # kind: (file name, text, line of the error)
    "nt": ("bad.nt", NT_BAD, 5),
    "nq": ("bad.nq", NQ_BAD, 2),
    "ttl": ("bad.ttl", TTL_BAD, 6),  # the long literal spans lines 4 and 5
    "rdf-xml-syntax": ("bad.rdf", RDFXML.replace("Toy Story</ex:title>", "Toy Story</ex:titl>"), 8),
    # well-formed XML, but rdf:parseType is no property attribute (an rdflib ParserError, not a SAX one)
    "rdf-xml-grammar": ("grammar.rdf", RDFXML.replace("<ex:genre rdf:", '<ex:genre rdf:parseType="x" rdf:', 1), 7),
    "jsonld": ("bad.jsonld", JSONLD_BAD, 4),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_syntax_error_names_file_and_line(tmp_path, kind):
    name, text, line = BAD[kind]
    with pytest.raises(DataFormatError) as caught:
        read_rdf(write(tmp_path, name, text))
    assert caught.value.line == line
    assert f"{name}, line {line}" in str(caught.value)
    assert caught.value.found.startswith("rdflib: ")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.nt"):
        read_rdf([write(tmp_path, "g.nt", NTRIPLES), tmp_path / "nowhere.nt"])


def test_format_cannot_be_guessed(tmp_path):
    with pytest.raises(DataFormatError, match=r"graph\.dat.*format="):
        read_rdf(write(tmp_path, "graph.dat", NTRIPLES))


def test_unknown_format_name(tmp_path):
    with pytest.raises(ValueError, match="unknown RDF format 'ntriplez'"):
        read_rdf(write(tmp_path, "graph.nt", NTRIPLES), format="ntriplez")


def test_n3_formula_is_rejected(tmp_path):
    path = write(tmp_path, "rule.n3", f"@prefix ex: <{EX}> .\n{{ ?x ex:p ?y }} => {{ ?y ex:p ?x }} .\n")
    with pytest.raises(DataFormatError, match="rule.n3"):
        read_rdf(path)


# ------------------------------------------------------------------ real data


FREEBASE = "http://rdf.freebase.com/ns/"


def test_ml100k_freebase_rows_as_ntriples(data_root, tmp_path):
    rows = pd.read_csv(data_root / "ml-100k" / "ml-100k.kg", sep="\t", nrows=2000, dtype=str)
    rows.columns = ["head", "relation", "tail"]
    path = tmp_path / "ml100k.nt"
    iris = ["<" + FREEBASE + rows[column] + ">" for column in ("head", "relation", "tail")]
    path.write_text((iris[0] + " " + iris[1] + " " + iris[2] + " .\n").str.cat(), encoding="utf-8")
    links = pd.read_csv(data_root / "ml-100k" / "ml-100k.link", sep="\t", dtype=str)
    links.columns = ["item", "entity"]
    items = pd.read_csv(data_root / "ml-100k" / "ml-100k.item", sep="\t", dtype=str).iloc[:, 0]

    kg = read_rdf(path, items=items.tolist(), link=links.assign(entity=FREEBASE + links["entity"]))

    in_rows = pd.concat([rows["head"], rows["tail"]]).unique()
    assert kg.num_relations == rows["relation"].nunique()
    assert kg.num_triples == len(rows.drop_duplicates())
    # linked entities absent from these rows are added as isolated entities
    assert kg.num_entities == len(set(in_rows) | set(links["entity"]))
    assert kg.entity_names.tolist() == sorted(FREEBASE + name for name in set(in_rows) | set(links["entity"]))
    assert kg.num_items == len(items) == 1682
    assert int((kg.item_entity >= 0).sum()) == len(links) == 1598
    # spot-check the first row and the first link by name
    first = (FREEBASE + rows["head"][0], FREEBASE + rows["relation"][0], FREEBASE + rows["tail"][0])
    assert first in named_triples(kg)
    position = items.tolist().index(links["item"][0])
    assert kg.entity_names[kg.item_entity[position]] == FREEBASE + links["entity"][0]
