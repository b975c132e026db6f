"""The registry parse as DuckDB rules: the document is checked, split and read by SQL, findings included."""

from __future__ import annotations

import copy
import json
import tracemalloc
from datetime import date

import duckdb
import pytest

from impact_pipeline import contract
from impact_pipeline.defs.registry.parse import (
    LOOKALIKE_PROBLEM,
    MAX_TEXT,
    PARSED_TABLES,
    RegistryFormatError,
    count_records,
    insert_document,
    parse_registry,
)
from impact_pipeline.defs.registry.phases import LIFECYCLE
from impact_pipeline.lib.sql import WHITESPACE
from impact_pipeline.settings import SAMPLE_DIR
from impact_pipeline_tests.defs.registry import registry_cases as cases
from impact_pipeline_tests.support.pipeline import REAL_SNAPSHOT, skip_without_shared_data

SOURCE = "https://registry.example/startups.json"
AS_OF = date(2026, 1, 15)


def parse_text(text: str, as_of: date = AS_OF) -> dict[str, list[dict]]:
    """Every registry table built from a document, rows in the order of the document."""
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE doc AS SELECT ?::VARCHAR AS document", [text])
    tables = parse_registry(con, "SELECT document FROM doc", [], source=SOURCE, as_of=as_of)
    out = {}
    for table in PARSED_TABLES:
        columns = ", ".join(f'"{c}"' for c in table.column_names)
        rows = con.execute(f"SELECT {columns} FROM {tables.relations[table.name]} ORDER BY _order").fetchall()
        out[table.name] = [dict(zip(table.column_names, row, strict=True)) for row in rows]
        assert tables.row_counts[table.name] == len(rows)
    con.close()
    return out


@pytest.fixture(scope="module")
def parsed():
    return parse_text(json.dumps(cases.DOCUMENT, ensure_ascii=False))


def findings_of(parsed, startup_id):
    return [
        (f["field"], f["value"], f["problem"], f["severity"])
        for f in parsed["registry_findings"]
        if f["startup_id"] == startup_id
    ]


def startup(parsed, startup_id):
    return next(s for s in parsed["startups"] if s["startup_id"] == startup_id)


SKIPPED = (
    "record is not an object; skipped",
    "record has no usable id; skipped",
    "duplicate id; later record skipped",
    LOOKALIKE_PROBLEM,
)


def phase_in_force(phases: list[dict], day: date) -> dict | None:
    """The rule of domain.md, read directly: latest start on or before `day`, then furthest along, then later."""
    started = [p for p in phases if p["start_date"] is not None and p["start_date"] <= day]
    rank = {name: i for i, name in enumerate(LIFECYCLE)}
    key = lambda p: (p["start_date"], rank.get(p["phase_normalized"], -1), p["position"])  # noqa: E731
    return max(started, key=key, default=None)


@pytest.mark.parametrize("as_of", [AS_OF, date(2019, 6, 1), date(2020, 1, 1)])
def test_every_record_is_accounted_for_and_the_current_phase_follows_the_rule(as_of):
    tables = parse_text(json.dumps(cases.DOCUMENT, ensure_ascii=False), as_of)
    # The same document spelled with \u escapes is the same registry.
    assert parse_text(json.dumps(cases.DOCUMENT, ensure_ascii=True), as_of) == tables
    ids = [s["startup_id"] for s in tables["startups"]]
    assert len(ids) == len(set(ids))
    skipped = [f for f in tables["registry_findings"] if f["problem"] in SKIPPED]
    assert len(ids) + len(skipped) == len(cases.DOCUMENT["data"])  # each record is a startup or a finding
    assert {r["startup_id"] for r in tables["startup_phases"] + tables["startup_events"]} <= set(ids)
    assert {f["severity"] for f in tables["registry_findings"]} <= {"warning", "error"}
    for s in tables["startups"]:
        phases = [p for p in tables["startup_phases"] if p["startup_id"] == s["startup_id"]]
        current = phase_in_force(phases, as_of)
        assert (s["current_phase"], s["current_phase_published"]) == (
            (current["phase_normalized"], current["phase"]) if current else (None, None)
        ), s["startup_id"]
        starts = [p["start_date"] for p in phases if p["start_date"] is not None]
        assert s["first_phase_start"] == min(starts, default=None)
        for column in ("name", "pitch", "contact"):
            value = s[column]
            assert value is None or (value == value.strip() and len(value) <= MAX_TEXT), (s["startup_id"], column)


def test_skipped_records_and_wrong_shapes_become_findings(parsed):
    findings = [
        (f["startup_id"], f["field"], f["value"], f["problem"], f["severity"]) for f in parsed["registry_findings"]
    ]
    assert (None, "data[1]", "a string record", "record is not an object; skipped", "error") in findings
    assert (None, "data[3]", None, "record is not an object; skipped", "error") in findings  # a JSON null
    assert (None, "data[4]", "[1, 2]", "record is not an object; skipped", "error") in findings  # json.dumps spelling
    assert (None, "data[9].id", "7", "record has no usable id; skipped", "error") in findings
    assert (None, "data[10].id", "   ", "record has no usable id; skipped", "error") in findings
    assert ("spaced", "data[16].id", "spaced", "duplicate id; later record skipped", "error") in findings
    assert ("ok", "data[17].id", "ok", "duplicate id; later record skipped", "error") in findings
    assert findings_of(parsed, "attrs-list")[0] == (
        "attributes",
        "[1, \"a\"]",
        "attributes is not an object; record kept with no attributes",
        "error",
    )
    assert (
        "phases",
        '{"name": "acceleration", "start": "2020-01-01"}',
        "phases is not a list",
        "error",
    ) in findings_of(parsed, "ph-obj")
    assert findings_of(parsed, "ph-empty") == [
        ("phases", "[]", "startup has no phase: it is never evaluated", "warning")
    ]
    # `events or []`: falsy values are no events at all; anything else that is not a list is reported
    assert (
        findings_of(parsed, "ev-zero") == findings_of(parsed, "ev-empty-obj") == findings_of(parsed, "ev-false") == []
    )
    assert findings_of(parsed, "ev-nan") == [("events", "NaN", "events is not a list", "error")]
    assert findings_of(parsed, "ev-space") == [("events", " ", "events is not a list", "error")]
    # the first of two records with the same (stripped) id is the one kept
    assert startup(parsed, "ok")["name"] == "OK" and startup(parsed, "spaced")["name"] == "SPACED"


def test_entries_dates_and_phase_names_are_read_like_python(parsed):
    by_field = {f[0]: f[1:] for f in findings_of(parsed, "ph-entries")}
    assert by_field["phases[0]"] == ("acceleration", "phase entry is not an object; skipped", "error")
    assert by_field["phases[8].name"] == (
        "5",
        "unknown phase name (neither the 2026 nor the old vocabulary)",
        "warning",
    )
    assert by_field["phases[9].name"] == (
        "True",
        "unknown phase name (neither the 2026 nor the old vocabulary)",
        "warning",
    )
    assert by_field["phases[14].end"] == ("2017-01-01", "phase ends before it starts", "warning")
    assert by_field["phases[16].start"] == ("", "missing date", "warning")
    assert by_field["phases[18].start"] == ("20200101", "unparsable date (expected YYYY-MM-DD)", "warning")  # a number
    assert by_field["phases[23].start"] == ("0000-01-01", "unparsable date (expected YYYY-MM-DD)", "warning")
    assert by_field["phases[23].end"] == ('{"d": "2020-01-01"}', "unparsable date (expected YYYY-MM-DD)", "warning")
    phases = {p["position"]: p for p in parsed["startup_phases"] if p["startup_id"] == "ph-entries"}
    # Python's ISO reading: blanks stripped, a time after the date ignored, the basic format accepted
    assert phases[12]["phase_normalized"] == "acceleration" and phases[12]["start_date"] == date(2020, 2, 1)
    assert phases[21]["start_date"] == date(2020, 1, 5) and phases[21]["end_date"] == date(
        2021, 1, 4
    )  # 20200105, 2021-W01-1
    assert phases[22]["start_date"] == date(2020, 1, 5)  # "2020-01-05 12:00"
    assert phases[14]["phase"] == "success" and phases[14]["phase_normalized"] == "transfere"
    assert 4 not in phases and 6 not in phases and 7 not in phases  # nameless entries are skipped


def test_text_is_stripped_cut_and_typed_like_python(parsed):
    txt = startup(parsed, "txt")
    assert (txt["name"], txt["pitch"], txt["contact"], txt["link"]) == ("12345", "1.5", "True", "100000.0")
    assert txt["impact_url"] == "12345678901234567890123" and txt["stats_url"] == "-0.0"
    assert ("name", "12345", "expected text, got int", "warning") in findings_of(parsed, "txt")
    assert ("pitch", "1.5", "expected text, got float", "warning") in findings_of(parsed, "txt")
    assert ("contact", "true", "expected text, got bool", "warning") in findings_of(parsed, "txt")
    assert ("name", '{"fr": "Nom"}', "expected text, got dict", "warning") in findings_of(parsed, "txt2")
    assert startup(parsed, "txt2")["name"] == "txt2"  # no usable name: the id is used
    assert startup(parsed, "txt6")["pitch"] == "padded"  # NBSP, ideographic space, U+2028 and NEL are blanks
    long = startup(parsed, "txt6")["name"]
    assert len(long) == MAX_TEXT and (
        "name",
        "20000",
        f"text longer than {MAX_TEXT} characters, truncated",
        "warning",
    ) in findings_of(parsed, "txt6")
    emoji = startup(parsed, "txt7")
    assert emoji["pitch"] == "🚀" * MAX_TEXT and emoji["contact"] == "e\u0301" * 5000  # code points, as Python counts
    assert (
        startup(parsed, "txt3")["accessibility_status"] == "x"
        and startup(parsed, "txt2")["accessibility_status"] is None
    )
    lists = startup(parsed, "ok")
    assert lists["sponsors"] == ["/organisations/x", "y", "3", "2.5", "1e+20"] and lists["usertypes"] == []
    assert ("sponsors", "true", "list item is not text", "warning") in findings_of(parsed, "ok")
    assert findings_of(parsed, "lists") == [
        ("sponsors", "not-a-list", "expected a list, got str", "warning"),
        ("thematiques", '{"a": 1}', "expected a list, got dict", "warning"),
        ("usertypes", "3", "expected a list, got int", "warning"),
    ]


def test_links_with_a_foreign_scheme_are_refused(parsed):
    links = startup(parsed, "links")
    assert [links[k] for k in ("link", "stats_url", "impact_url", "budget_url", "repository")] == [None] * 5
    assert {(f, p) for f, _, p, _ in findings_of(parsed, "links")} == {
        ("link", "refused URL scheme 'javascript'"),
        ("stats_url", "refused URL scheme 'javascript'"),
        ("impact_url", "refused URL scheme 'file'"),
        ("budget_url", "refused URL scheme 'ftp'"),
        ("repository", "refused URL scheme 'data'"),
    }
    kept = startup(parsed, "links2")  # tab inside the scheme, control character before it: still refused
    assert (kept["link"], kept["stats_url"], kept["impact_url"], kept["budget_url"], kept["repository"]) == (
        None,
        None,
        "HTTP://ok",
        "example.org:8080/x",
        "www.example.org",
    )
    assert startup(parsed, "links4")["impact_url"] == "hTTps://x" and startup(parsed, "links4")["budget_url"] is None


def test_current_phase_is_the_phase_at_the_fetch_date(parsed):
    current = {
        s["startup_id"]: (s["current_phase"], s["current_phase_published"], s["first_phase_start"])
        for s in parsed["startups"]
    }
    assert current["ph-ties"] == (None, "inconnue3", date(2020, 1, 1))  # unknown names tie lowest, then the later entry
    assert current["ph-unknown-last"] == (None, "weird", date(2020, 1, 1))
    assert current["ph-asof-tie"] == ("opere", "opere", date(2026, 1, 15))  # on the fetch date; furthest along wins
    assert current["ph-future"] == (None, None, date(2030, 1, 1))
    assert current["ok"] == ("acceleration", "acceleration", date(2019, 1, 1))


def test_incubators_come_from_included(parsed):
    assert [(i["incubator_id"], i["title"], i["github"], i["contact"]) for i in parsed["incubators"]] == [
        ("inc-a", "Incubateur A", "5", None),
        ("inc-b", None, None, None),
        (" inc-e ", None, "True", "1.25"),
        ("inc-f", None, None, None),
    ]
    problems = [
        (f["field"], f["value"], f["problem"]) for f in parsed["registry_findings"] if f["field"].startswith("included")
    ]
    assert ("included[1].id", "inc-a", "incubator without a usable or unique id; skipped") in problems
    assert ("included[3].id", None, "incubator without a usable or unique id; skipped") in problems
    assert ("included[9].website", "10001", f"text longer than {MAX_TEXT} characters, truncated") in problems
    relations = {s["startup_id"]: s["incubator_id"] for s in parsed["startups"] if s["startup_id"].startswith("rel")}
    assert relations == {
        "rel1": None,
        "rel2": None,
        "rel3": None,
        "rel4": None,
        "rel5": None,
        "rel6": None,
        "rel7": " sp ",
        "rel8": None,
        "rel9": None,
    }


@pytest.mark.parametrize(
    "name, findings",
    [
        ("included-str", [("included", "x", "included is not a list", "error")]),
        ("included-obj", [("included", '{"id": "a"}', "included is not a list", "error")]),
        ("included-one", [("included", "1", "included is not a list", "error")]),
        ("included-zero", []),
        ("included-null", []),
        ("included-empty-str", []),
        ("included-empty-obj", []),
        ("empty", []),
    ],
)
def test_document_level_findings(name, findings):
    tables = parse_text(cases.SHAPES[name])
    assert [(f["field"], f["value"], f["problem"], f["severity"]) for f in tables["registry_findings"]] == findings


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "truncated",
            "response is not valid JSON: Malformed JSON at byte 37 of input: unexpected end of data "
            "(the document is truncated)",
        ),
        ("not-json", "response is not valid JSON: Malformed JSON at byte 0 of input: unexpected character"),
        ("empty-body", "response is not valid JSON: empty body"),
        ("root-list", "the document is not a JSON object (got list)"),
        ("root-str", "the document is not a JSON object (got str)"),
        ("root-num", "the document is not a JSON object (got float)"),
        ("data-obj", "`data` is not a list (got dict)"),
        ("data-null", "`data` is not a list (got NoneType)"),
        ("no-data", "the document has no `data` member (not a JSON:API startups document)"),
    ],
)
def test_a_document_that_is_not_a_registry_is_refused_naming_the_source(name, message):
    with pytest.raises(RegistryFormatError) as refused:
        parse_text(cases.SHAPES[name])
    assert str(refused.value) == f"{SOURCE}: {message}"
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE doc AS SELECT ?::VARCHAR AS document", [cases.SHAPES[name]])
    with pytest.raises(RegistryFormatError) as counted:
        count_records(con, "SELECT document FROM doc", [], source=SOURCE)
    assert str(counted.value) == str(refused.value)


def test_raw_document_is_stored_only_when_it_is_utf8_json():
    con = duckdb.connect()
    con.execute(contract.REGISTRY_RAW.ddl())
    values = ["2026-01-15T10:00:00", SOURCE, SOURCE, "abc", 10]
    with pytest.raises(RegistryFormatError, match="not valid JSON: not UTF-8 text"):
        insert_document(con, values, b'{"data": ["\xff"]}', source=SOURCE)
    insert_document(con, values, json.dumps({"data": [{"id": "é"}, 2]}, ensure_ascii=False).encode(), source=SOURCE)
    assert count_records(con, "SELECT document FROM registry_raw", [], source=SOURCE) == 2
    assert con.execute("SELECT n_startups, document->>'$.data[0].id' FROM registry_raw").fetchall() == [(None, "é")]


def test_whitespace_is_what_python_strips():
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_the_records_never_become_python_objects():
    """Python holds distinct values only: a registry 400 times the sample world costs it no more than a small one."""
    sample = json.loads((SAMPLE_DIR / "startups.json").read_text(encoding="utf-8"))
    records = []
    for copy_index in range(400):
        for record in sample["data"]:
            record = copy.deepcopy(record)
            record["id"] = f"{record['id']}-{copy_index}"
            records.append(record)
    text = json.dumps({**sample, "data": records}, ensure_ascii=False)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE doc AS SELECT ?::VARCHAR AS document", [text])
    del text, records
    tracemalloc.start()
    try:
        tables = parse_registry(con, "SELECT document FROM doc", [], source=SOURCE, as_of=AS_OF)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tables.row_counts["startups"] == 400 * len(sample["data"])
    assert peak < 1_000_000, f"Python allocated {peak} bytes while parsing {tables.row_counts['startups']} records"


def test_real_snapshot():
    skip_without_shared_data()
    tables = parse_text(REAL_SNAPSHOT.read_text(encoding="utf-8"))
    assert {name: len(rows) for name, rows in tables.items()} == {
        "startups": 662,
        "startup_phases": 1695,
        "startup_events": 562,
        "incubators": 23,
        "registry_findings": 0,
    }
    first = tables["startups"][0]
    assert (first["startup_id"], first["name"], first["link"], first["current_phase"], first["usertypes"]) == (
        "1-eleve-1-stage",
        "1 élève, 1 stage",
        "https://1eleve1stage.education.gouv.fr",
        "transfere",
        ["entreprise", "etablissement-scolaire", "lycéens", "collégiens"],
    )
