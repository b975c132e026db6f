"""The whole graph on the real registry snapshot, served from a local HTTP server."""

from __future__ import annotations

import csv
from collections import Counter

import duckdb
import pytest

from impact_pipeline_tests.support.http_server import Route
from impact_pipeline_tests.support.pipeline import (
    OFFICIAL_LIST,
    REAL_SNAPSHOT,
    PipelinePaths,
    run_years,
    skip_without_shared_data,
)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    skip_without_shared_data()
    from impact_pipeline_tests.support.http_server import LocalServer

    paths = PipelinePaths(tmp_path_factory.mktemp("real"))
    with LocalServer(
        {
            "/api/v2.5/startups.json": Route(
                body=REAL_SNAPSHOT.read_bytes(), headers={"Content-Type": "application/json"}
            )
        }
    ) as server:
        result = run_years(paths.settings(server.url("/api/v2.5/startups.json")), 2016, 2025)
    assert result.success
    return paths


def _official():
    with open(OFFICIAL_LIST, encoding="utf-8") as fh:
        return {row["startup_id"]: int(row["year_listed"]) for row in csv.DictReader(fh)}


def test_designations_match_the_official_list_every_year(real_run):
    official = _official()
    expected = Counter(official.values())
    con = duckdb.connect(str(real_run.duckdb_path), read_only=True)
    rows = dict(con.execute("SELECT year, n_designated_in_year FROM national_impact_summary").fetchall())
    designated = dict(
        con.execute(
            "SELECT DISTINCT startup_id, designation_year FROM national_impact WHERE designation_year IS NOT NULL"
        ).fetchall()
    )
    assert sorted(rows) == list(range(2016, 2026))
    assert rows == {year: expected.get(year, 0) for year in range(2016, 2026)}
    assert designated == official


def test_34_of_37_designated_pass_a_in_their_designation_year(real_run):
    con = duckdb.connect(str(real_run.duckdb_path), read_only=True)
    rows = con.execute(
        "SELECT startup_id, criterion_a, phase_at_year_end, reasons FROM national_impact "
        "WHERE year = designation_year ORDER BY startup_id"
    ).fetchall()
    assert len(rows) == 37
    failing = {sid: (phase, reasons) for sid, verdict, phase, reasons in rows if verdict != "pass"}
    assert sum(1 for r in rows if r[1] == "pass") == 34
    assert set(failing) == {"la-bonne-boite", "demarches-simplifiees.fr", "chauffage-urbain"}
    for sid, (phase, reasons) in failing.items():
        assert (
            con.execute(
                "SELECT criterion_a FROM national_impact WHERE startup_id = ? AND year = designation_year", [sid]
            ).fetchall()[0][0]
            == "fail"
        )
        assert phase == "construction"
        assert "'construction'" in reasons and "(a) fails" in reasons


def test_b_and_c_are_unknown_never_pass_without_sources(real_run):
    con = duckdb.connect(str(real_run.duckdb_path), read_only=True)
    counts = dict(
        con.execute("SELECT criterion_b || '/' || criterion_c, count(*) FROM national_impact GROUP BY 1").fetchall()
    )
    assert set(counts) == {"unknown/unknown"}
    assert con.execute("SELECT count(*) FROM national_impact WHERE meets_criteria").fetchall()[0][0] == 0
    reasons = con.execute("SELECT reasons FROM national_impact LIMIT 1").fetchall()[0][0]
    assert "no usage source yet" in reasons and "no quality source yet" in reasons


def test_registry_tables_and_csv_exports(real_run):
    con = duckdb.connect(str(real_run.duckdb_path), read_only=True)
    assert con.execute("SELECT count(*) FROM startups").fetchall()[0][0] == 662
    assert con.execute("SELECT count(*) FROM incubators").fetchall()[0][0] == 23
    assert con.execute("SELECT count(DISTINCT sha256) FROM registry_raw").fetchall()[0][0] == 1
    for year in range(2016, 2026):
        path = real_run.export_dir / f"national_impact_{year}.csv"
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        n = con.execute("SELECT count(*) FROM national_impact WHERE year = ?", [year]).fetchall()[0][0]
        assert len(rows) == n > 0
        assert {r["year"] for r in rows} == {str(year)}
