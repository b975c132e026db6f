"""Crowd-edited values that once broke the parse or the `startups` gate (issue 17): each is a finding, the rest is kept.

The documents are written as JSON text, not built with `json.dumps`: Python's encoder cannot nest 100,000 lists, and
only the text form carries a lone surrogate (`\\udc00`) as the registry sends it.
"""

from __future__ import annotations

import json
import re
from datetime import date

import duckdb
import pytest

from impact_pipeline.defs.registry.parse import LOOKALIKE_PROBLEM, SURROGATE_PROBLEM, id_key, without_lone_surrogates
from impact_pipeline.lib.urls import REFUSED_LINK_RE, refused_scheme
from impact_pipeline_tests.defs.registry.test_parse import parse_text

PHASES = '[{"name": "acceleration", "start": "2020-01-01"}]'


def record(sid: str, attributes: str = "", *, name: str = '"N"', phases: str = PHASES) -> str:
    """A record as JSON text; `sid`, `attributes` (without braces), `name` and `phases` are JSON text too."""
    extra = f", {attributes}" if attributes else ""
    return f'{{"id": {sid}, "type": "startup", "attributes": {{"name": {name}, "phases": {phases}{extra}}}}}'


def document(*records: str) -> str:
    return '{"data": [' + ", ".join(records) + "]}"


def findings(tables, startup_id=None):
    return [
        (f["startup_id"], f["field"], f["value"], f["problem"])
        for f in tables["registry_findings"]
        if startup_id is None or f["startup_id"] == startup_id
    ]


def startup(tables, startup_id):
    return next(s for s in tables["startups"] if s["startup_id"] == startup_id)


# -- item 5: a link the gate refuses is refused by the parse ----------------------------------------------------

GATE_REFUSED = [
    "javascript:1;alert(1)",
    "data:1,<script>alert(1)</script>",
    "file:1/etc/passwd",
    "JavaScript:1",
    "vbscript:1",
    "ftp:21/x",
    "javascript :alert(1)",
    "\x01 data\t:x",
    "  javascript:1",
]
LINK_FIELDS = ("link", "stats_url", "impact_url", "budget_url", "repository")


@pytest.mark.parametrize("value", GATE_REFUSED)
def test_a_link_the_startups_gate_refuses_is_nulled_with_a_finding(value):
    attributes = ", ".join(f'"{f}": {json.dumps(value)}' for f in LINK_FIELDS)
    tables = parse_text(document(record('"s"', attributes)))
    assert [startup(tables, "s")[f] for f in LINK_FIELDS] == [None] * 5
    refused = {(field, problem) for _, field, _, problem in findings(tables, "s")}
    assert {f for f, p in refused if p.startswith("refused URL scheme")} == set(LINK_FIELDS), refused
    # none of what is published matches the gate's rule (the same regular expression, by DuckDB)
    con = duckdb.connect()
    published = [startup(tables, "s")[f] or "" for f in LINK_FIELDS]
    assert not any(
        con.execute(f"SELECT regexp_matches(lower(?), '{REFUSED_LINK_RE}')", [v]).fetchall()[0][0] for v in published
    )
    con.close()


@pytest.mark.parametrize(
    "value, scheme",
    [
        ("javascript:1;alert(1)", "javascript"),
        ("data:1,x", "data"),
        ("file:1", "file"),
        ("javascript:1", "javascript"),
        ("tel:1;x", "tel"),
        ("example.org:8080/x", None),
        ("example.org:8080", None),
        ("localhost:80?x=1", None),
        ("example.org:²", None),
    ],
)
def test_host_and_port_is_digits_up_to_a_path(value, scheme):
    assert refused_scheme(value) == scheme


def test_links_that_are_not_refused_are_kept():
    kept = {
        "link": "https://ok.example.org",
        "stats_url": "example.org:8080/stats",
        "impact_url": "/impact",
        "budget_url": "www.example.org",
        "repository": "git@github.com:a/b.git",
    }
    tables = parse_text(document(record('"s"', ", ".join(f'"{k}": {json.dumps(v)}' for k, v in kept.items()))))
    assert {f: startup(tables, "s")[f] for f in LINK_FIELDS} == kept and findings(tables) == []


# -- item 6: nesting of any depth -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2_000, 100_000])
@pytest.mark.parametrize("field", ["pitch", "name", "link", "sponsors", "phases", "events"])
def test_deeply_nested_values_are_findings_and_the_document_is_kept(field, depth):
    nested = "[" * depth + "]" * depth
    deep = (
        record('"deep"', **{field: nested}) if field in ("name", "phases") else record('"deep"', f'"{field}": {nested}')
    )
    tables = parse_text(document(deep, record('"next"')))
    assert [s["startup_id"] for s in tables["startups"]] == ["deep", "next"]
    problems = findings(tables, "deep")
    assert problems, field
    _, reported_field, value, _ = problems[0]
    assert reported_field.startswith(field) and value.startswith("[[[[") and len(value) <= 201


def test_a_deeply_nested_record_is_skipped_with_a_finding():
    nested = "[" * 100_000 + "]" * 100_000
    tables = parse_text(document(nested, record('"next"')))
    assert [s["startup_id"] for s in tables["startups"]] == ["next"]
    assert findings(tables)[0][1:2] == ("data[0]",) and findings(tables)[0][3] == "record is not an object; skipped"


# -- item 11: lone surrogates -------------------------------------------------------------------------------------


def test_a_lone_surrogate_is_a_finding_on_its_field_and_the_document_is_kept():
    text = document(
        record(
            '"s"',
            r'"pitch": "p\ud800", "sponsors": ["ok", "x\udfff"], "events": [{"name": "e", "comment": "c\uDC00"}]',
            name=r'"x\udc00y"',
        ),
        record('"pair"', name=r'"\ud83d\ude80 \\udc00"'),  # a pair, an escaped backslash
    )
    tables = parse_text(text)
    s = startup(tables, "s")
    assert (s["name"], s["pitch"], s["sponsors"]) == ("x\ufffdy", "p\ufffd", ["ok", "x\ufffd"])
    assert startup(tables, "pair")["name"] == "🚀 \\udc00"
    assert [(field, value) for _, field, value, problem in findings(tables) if problem == SURROGATE_PROBLEM] == [
        ("events[0].comment", "c\ufffd"),
        ("name", "x\ufffdy"),
        ("pitch", "p\ufffd"),
        ("sponsors", "x\ufffd"),
    ]
    assert findings(tables, "pair") == []


def test_a_lone_surrogate_in_an_id_or_an_incubator_is_a_finding():
    text = '{"data": [' + record(r'"id\udc00"') + r'], "included": [{"id": "i", "attributes": {"title": "t\ud800"}}]}'
    tables = parse_text(text)
    assert [s["startup_id"] for s in tables["startups"]] == ["id\ufffd"]
    assert [(f, v) for _, f, v, p in findings(tables) if p == SURROGATE_PROBLEM] == [
        ("data[0].id", "id\ufffd"),
        ("included[0].title", "t\ufffd"),
    ]


@pytest.mark.parametrize(
    "text, repaired",
    [
        (r'"a\udc00b"', r'"a\ufffdb"'),
        (r'"\ud800"', r'"\ufffd"'),
        (r'"\uD83D\uDE80"', r'"\uD83D\uDE80"'),
        (r'"\\udc00"', r'"\\udc00"'),
        (r'"\\\udc00"', r'"\\\ufffd"'),
        (r'"\ud800\ud800\udc00"', r'"\ufffd\ud800\udc00"'),
        (r'"x\\\\"', r'"x\\\\"'),
        ('"\x01\\udc00"', '"\x01\\udc00"'),  # raw control characters: left alone (refused)
    ],
)
def test_only_lone_surrogate_escapes_are_replaced(text, repaired):
    con = duckdb.connect()
    assert con.execute(without_lone_surrogates("SELECT ?::VARCHAR AS document"), [text]).fetchall() == [(repaired,)]


# -- item 13: look-alike ids ---------------------------------------------------------------------------------------

LOOKALIKES = [
    "Café-Svc",
    "café-svc",
    "cafe\u0301-svc",
    "ＣＡＦＥ\u0301-ｓｖｃ",
    "café\u200b-svc",
    "\u00a0café-svc\u3000",
    "ca\u00adfé-svc",
    "café-svc\ufeff",
]


def test_look_alike_ids_are_duplicates_and_the_first_is_kept():
    records = [record(json.dumps(sid)) for sid in LOOKALIKES] + [
        record('"Plain"'),
        record('"plain"'),
        record('"PLAIN\\u0000"'),
        record('"café-svc"'),
    ]
    tables = parse_text(document(*records))
    assert [s["startup_id"] for s in tables["startups"]] == ["Café-Svc", "Plain"]
    skipped = [(sid, field, value) for sid, field, value, problem in findings(tables) if problem == LOOKALIKE_PROBLEM]
    # each later record: under the id that is kept, its own id as the value
    assert skipped == [("Café-Svc", f"data[{i}].id", sid.strip()) for i, sid in enumerate(LOOKALIKES) if i] + [
        ("Plain", "data[9].id", "plain"),
        ("Plain", "data[10].id", "PLAIN\x00"),
        ("Café-Svc", "data[11].id", "café-svc"),
    ]


def test_exact_duplicates_keep_their_finding():
    tables = parse_text(document(record('"a"'), record('" a "'), record('"A"')))
    assert [s["startup_id"] for s in tables["startups"]] == ["a"]
    assert [(f, p) for _, f, _, p in findings(tables)] == [
        ("data[1].id", "duplicate id; later record skipped"),
        ("data[2].id", LOOKALIKE_PROBLEM),
    ]


def test_the_sql_key_of_an_ascii_id_is_the_python_key():
    """ASCII ids are keyed in SQL (no Python per record): the same key as `id_key`."""
    ids = [f"a{chr(c)}B" for c in range(128)] + [" x ", "X\x7f", "\x00y"]
    tables = parse_text(document(*[record(json.dumps(sid)) for sid in ids]))
    kept = [s["startup_id"] for s in tables["startups"]]
    expected, seen = [], set()
    for sid in ids:
        if sid.strip() and id_key(sid.strip()) not in seen:
            seen.add(id_key(sid.strip()))
            expected.append(sid.strip())
    assert kept == expected


# -- item 15: dates outside the programme's life --------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, kept",
    [
        ("0001-01-01", False),
        ("2012-12-31", False),
        ("2013-01-01", True),
        ("2027-12-31", True),
        ("2028-01-01", False),
        ("9999-12-31", False),
    ],
)
def test_event_dates_outside_the_programme_are_findings_not_designations(day, kept):
    events = f'"events": [{{"name": "national_impact", "date": "{day}"}}]'
    tables = parse_text(document(record('"s"', events)), as_of=date(2026, 1, 15))
    assert tables["startup_events"][0]["event_date"] == (date.fromisoformat(day) if kept else None)
    outside = [(f, v) for _, f, v, p in findings(tables, "s") if re.match(r"date outside the programme", p)]
    assert outside == ([] if kept else [("events[0].date", day)])
