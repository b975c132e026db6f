"""Hostile input from the public registry: each case has a clear outcome, and nothing reaches where it should not.

HTTP-layer unit tests (size cap, drip, private addresses, schemes on every redirect hop, token redaction) live in
`impact_pipeline_tests/lib/test_http.py`; the registry-format failures (not JSON, truncated, `data` not a list) in
`impact_pipeline_tests/defs/registry/test_registry_pipeline.py`. Here: the same protections through a real run.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import duckdb
import pytest

from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline.settings import SAMPLE_DIR
from impact_pipeline_tests.support.http_server import LocalServer, Route
from impact_pipeline_tests.support.pipeline import PipelinePaths, digest, failure_text, run_years

PHASES = [
    {"name": "investigation", "start": "2019-01-01", "end": ""},
    {"name": "acceleration", "start": "2020-01-01", "end": ""},
]
FORMULAS = {
    "formula-eq": '=HYPERLINK("http://evil.example","clic")',
    "formula-plus": "+33 1 23 45",
    "formula-minus": "-2+3+cmd|' /C calc'!A0",
    "formula-at": "@SUM(A1:A9)",
}
SQL_NAME = "Robert'); DROP TABLE startups;--"
SQL_PITCH = '"; DELETE FROM national_impact; SELECT \'1\' = \'1'
NON_LATIN = "خدمة عامة · 公共服务 · Услуга · 🚀 Ünïcödé"


def startup(sid, name, **attributes):
    return {
        "id": sid,
        "type": "startup",
        "attributes": {"name": name, "phases": PHASES, **attributes},
        "relationships": {"incubator": {"data": {"type": "incubator", "id": "inc"}}},
    }


HOSTILE = {
    "data": [
        *[startup(sid, name) for sid, name in FORMULAS.items()],
        startup("sql", SQL_NAME, pitch=SQL_PITCH),
        startup("long", "L" * 20_000, pitch="p" * 60_000),
        startup("non-latin", NON_LATIN, pitch=NON_LATIN * 3),
        startup(
            "links",
            "Links",
            link="javascript:alert(document.cookie)",
            stats_url="file:///etc/passwd",
            repository="ftp://ftp.example.org/repo",
            budget_url="  JavaScript:void(0)",
            impact_url="https://impact.example.org/",
        ),
        startup("dup", "First"),
        startup("dup", "Second"),
        {
            "id": "types",
            "attributes": {
                "name": 12345,
                "phases": {"name": "acceleration"},
                "events": "none",
                "sponsors": "not-a-list",
                "link": ["x"],
            },
        },
        {"id": "attrs-list", "attributes": ["a", "b"]},
        "not an object",
        {"id": 42, "attributes": {}},
    ],
    "included": [{"id": "inc", "type": "incubator", "attributes": {"title": "Incubateur"}}],
}


def test_hostile_but_parseable_registry_is_stored_verbatim_and_neutralised(tmp_path):
    paths = PipelinePaths(tmp_path)
    with LocalServer({"/startups.json": Route(body=HOSTILE)}) as server:
        result = run_years(paths.settings(server.url("/startups.json")), 2025, 2025)
    assert result.success, failure_text(result)
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    findings = con.execute("SELECT coalesce(startup_id, ''), field, problem FROM registry_findings").fetchall()
    problems = {(sid, problem) for sid, _, problem in findings}
    # wrong types, duplicate ids, broken records: findings, never a crash
    assert ("dup", "duplicate id; later record skipped") in problems
    assert ("types", "expected text, got int") in problems and ("types", "phases is not a list") in problems
    assert ("", "record is not an object; skipped") in problems and ("", "record has no usable id; skipped") in problems
    assert ("attrs-list", "attributes is not an object; record kept with no attributes") in problems
    assert con.execute("SELECT name FROM startups WHERE startup_id = 'dup'").fetchall() == [("First",)]
    # refused URL schemes: NULL in the table, the value kept in the finding
    refused = {(f, p) for sid, f, p in findings if sid == "links"}
    assert refused == {
        ("link", "refused URL scheme 'javascript'"),
        ("stats_url", "refused URL scheme 'file'"),
        ("repository", "refused URL scheme 'ftp'"),
        ("budget_url", "refused URL scheme 'javascript'"),
    }
    assert con.execute(
        "SELECT link, stats_url, repository, budget_url, impact_url FROM startups WHERE startup_id = 'links'"
    ).fetchall() == [(None, None, None, None, "https://impact.example.org/")]
    # SQL fragments and quotes: stored verbatim, never executed (every table still there, every row too)
    assert con.execute("SELECT name, pitch FROM startups WHERE startup_id = 'sql'").fetchall() == [
        (SQL_NAME, SQL_PITCH)
    ]
    assert con.execute("SELECT count(*) FROM national_impact WHERE year = 2025").fetchall() == [(9,)]
    # very long text is cut at 10,000 characters (and reported); non-Latin text round-trips exactly
    assert con.execute("SELECT length(name), length(pitch) FROM startups WHERE startup_id = 'long'").fetchall() == [
        (10_000, 10_000)
    ]
    assert ("long", "text longer than 10000 characters, truncated") in problems
    assert con.execute("SELECT name FROM startups WHERE startup_id = 'non-latin'").fetchall() == [(NON_LATIN,)]
    con.close()
    # CSV: formula-looking names are neutralised with a leading apostrophe; the rest is verbatim UTF-8
    rows = {
        r["startup_id"]: r
        for r in csv.DictReader(io.StringIO((paths.export_dir / "national_impact_2025.csv").read_text("utf-8")))
    }
    for sid, name in FORMULAS.items():
        assert rows[sid]["name"] == "'" + name
    assert rows["sql"]["name"] == SQL_NAME and rows["non-latin"]["name"] == NON_LATIN


@pytest.fixture(scope="module")
def published(tmp_path_factory, sample_2025):
    """A good publication to compare against (shared: every case below must leave it untouched).

    A copy of the sample world's 2025 run (conftest), served by this module's own server at `/startups.json`.
    """
    sample = (SAMPLE_DIR / "startups.json").read_bytes()
    with LocalServer({"/startups.json": Route(body=sample, headers={"Content-Type": "application/json"})}) as server:
        yield sample_2025.copy_to(tmp_path_factory.mktemp("published") / "run"), server


def test_fatal_registry_answers_fail_the_run_and_leave_the_publication_untouched(published, monkeypatch):
    paths, server = published
    before = digest(paths)
    monkeypatch.setenv("IMPACT_HTTP_TIMEOUT", "2")
    monkeypatch.setenv("IMPACT_HTTP_RETRIES", "0")
    server.add("/huge.json", Route(body=b"[" + b" " * 50_000_000 + b"]"))
    server.add("/drip.json", Route(body=b'{"data": []}' * 100, drip=0.05))
    server.add("/wrong-types.json", Route(body={"data": "startups"}))
    cases = [
        ("/huge.json", "size", True),  # 50 MB: over the 25 MiB cap
        ("/drip.json", "timed out after 2.0 s", True),  # a server that drips bytes
        ("/wrong-types.json", "`data` is not a list", True),
    ]
    for path, expected, allow_private in cases:
        settings = dataclasses.replace(
            paths.settings(server.url(path)), http=HttpSettings.from_env(allow_private_network=allow_private)
        )
        result = run_years(settings, 2025, 2025)
        assert not result.success, path
        message = failure_text(result)
        assert server.url(path) in message and expected in message, message
        assert digest(paths) == before, path


@pytest.mark.parametrize(
    "path, route",
    [
        ("/startups.json", None),
        ("/to-metadata", Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})),
        ("/to-private", Route(status=302, headers={"Location": "http://10.1.2.3/startups.json"})),
    ],
    ids=["loopback", "redirect-to-metadata", "redirect-to-private-range"],
)
def test_private_network_is_refused_before_any_request(published, path, route):
    """With IMPACT_ALLOW_PRIVATE_NETWORK unset, not a single byte leaves for a private/loopback address."""
    paths, server = published
    before = digest(paths)
    if route is not None:
        server.add(path, route)
    for url in (server.url(path), server.url(path).replace("127.0.0.1", "localhost")):
        n_requests = len(server.requests)
        settings = dataclasses.replace(paths.settings(url), http=HttpSettings.from_env(allow_private_network=False))
        result = run_years(settings, 2025, 2025)
        assert not result.success
        assert "refusing to connect to private/loopback/link-local address" in failure_text(result)
        assert len(server.requests) == n_requests, "a request reached the server"
    assert digest(paths) == before


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://ftp.example.org/startups.json", "gopher://x/"])
def test_registry_url_with_a_foreign_scheme_is_refused(published, url):
    paths, _ = published
    before = digest(paths)
    result = run_years(paths.settings(url), 2025, 2025)
    assert not result.success
    assert "is not allowed (only http and https)" in failure_text(result)
    assert digest(paths) == before


def _text_record(sid: str, attributes: str) -> str:
    """A record as JSON text (`sid` and `attributes` are JSON text): deep nesting and lone surrogates are only text."""
    return (
        f'{{"id": {sid}, "type": "startup", "attributes": {{"phases": {json.dumps(PHASES)}, {attributes}}}, '
        f'"relationships": {{"incubator": {{"data": {{"type": "incubator", "id": "inc"}}}}}}}}'
    )


def test_no_crowd_edited_value_stops_publication(tmp_path):
    """Issue 17, items 5, 6, 11, 13, 15: values that once failed the parse or the `startups` gate, in one registry.

    Each is a finding; the gates hold and the run publishes every other service.
    """
    deep = "[" * 100_000 + "]" * 100_000
    records = [
        _text_record(
            '"js-port"',
            '"name": "JS", "link": "javascript:1;alert(1)", "stats_url": "data:1,x", '
            '"repository": "file:1/etc/passwd", "budget_url": "javascript :alert(1)", '
            '"impact_url": "example.org:8080/impact"',
        ),
        _text_record('"deep"', f'"name": "Deep", "pitch": {deep}, "sponsors": {deep}'),
        _text_record('"surrogate"', r'"name": "Nom \udc00 cassé", "pitch": "p\ud800"'),
        _text_record('"Café-Svc"', '"name": "Café"'),
        *[
            _text_record(json.dumps(sid), '"name": "Look-alike"')
            for sid in ("café-svc", "cafe\u0301-svc", "ＣＡＦＥ\u0301-ＳＶＣ", "café\u200b-svc", " café-svc ")
        ],
        _text_record('"year-one"', '"name": "Year one", "events": [{"name": "national_impact", "date": "0001-01-01"}]'),
    ]
    body = (
        '{"data": [' + ", ".join(records) + '], "included": [{"id": "inc", "type": "incubator", '
        '"attributes": {"title": "Incubateur"}}]}'
    ).encode("utf-8")
    paths = PipelinePaths(tmp_path)
    with LocalServer({"/startups.json": Route(body=body, headers={"Content-Type": "application/json"})}) as server:
        result = run_years(paths.settings(server.url("/startups.json")), 2025, 2025)
    assert result.success, failure_text(result)
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    assert [r[0] for r in con.execute("SELECT startup_id FROM national_impact ORDER BY startup_id").fetchall()] == [
        "Café-Svc",
        "deep",
        "js-port",
        "surrogate",
        "year-one",
    ]
    assert con.execute(
        "SELECT link, stats_url, repository, budget_url, impact_url FROM startups WHERE startup_id = 'js-port'"
    ).fetchall() == [(None, None, None, None, "example.org:8080/impact")]
    assert con.execute("SELECT name, pitch FROM startups WHERE startup_id = 'surrogate'").fetchall() == [
        ("Nom \ufffd cassé", "p\ufffd")
    ]
    assert con.execute(
        "SELECT officially_designated, designation_year FROM national_impact WHERE startup_id = 'year-one'"
    ).fetchall() == [(False, None)]
    findings = con.execute("SELECT startup_id, field, problem FROM registry_findings").fetchall()
    con.close()
    problems = {(sid, field): problem for sid, field, problem in findings}
    assert {f for (sid, f), p in problems.items() if sid == "js-port" and p.startswith("refused URL scheme")} == {
        "link",
        "stats_url",
        "repository",
        "budget_url",
    }
    assert problems[("deep", "pitch")] == "expected text, got list"
    assert problems[("deep", "sponsors")] == "list item is not text"
    assert problems[("surrogate", "name")].startswith("text holds a lone UTF-16 surrogate")
    assert sorted(f for (sid, f), p in problems.items() if sid == "Café-Svc" and p.startswith("duplicate id")) == [
        f"data[{i}].id" for i in range(4, 9)
    ]
    assert problems[("year-one", "events[0].date")].startswith("date outside the programme's life")


def test_a_year_with_nothing_to_evaluate_is_a_summary_row_of_zeros(tmp_path):
    """Issue 17, item 12: no service has a phase before 2018; asking for 2016-2018 publishes, 2016 and 2017 as zeros."""
    late = [{"name": "acceleration", "start": "2018-03-01", "end": ""}]
    registry = {
        "data": [
            dict(startup(sid, sid.upper()), attributes={"name": sid.upper(), "phases": late})
            for sid in ("late-a", "late-b")
        ],
        "included": HOSTILE["included"],
    }
    paths = PipelinePaths(tmp_path)
    with LocalServer({"/startups.json": Route(body=registry)}) as server:
        result = run_years(paths.settings(server.url("/startups.json")), 2016, 2018)
    assert result.success, failure_text(result)
    con = duckdb.connect(str(paths.duckdb_path), read_only=True)
    summary = con.execute(
        "SELECT year, n_evaluated, n_meeting_criteria, n_first_meeting, n_meeting_not_designated, "
        "n_designated_in_year, n_designated_cumulative FROM national_impact_summary ORDER BY year"
    ).fetchall()
    assert summary == [(2016, 0, 0, 0, 0, 0, 0), (2017, 0, 0, 0, 0, 0, 0), (2018, 2, 0, 0, 0, 0, 0)]
    assert con.execute("SELECT year, count(*) FROM national_impact GROUP BY year").fetchall() == [(2018, 2)]
    con.close()
