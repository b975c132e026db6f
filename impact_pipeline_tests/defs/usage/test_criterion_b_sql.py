"""Criterion (b) as one SELECT over a keys table: its columns, one row per key, JSON evidence read by DuckDB paths,
repeatable on one connection, and robust to working files written before the usage tables existed."""

from __future__ import annotations

import json
from datetime import date

import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.usage.criterion import criterion_b_sql
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH
from impact_pipeline_tests.support.criteria import criteria_with

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)


@pytest.fixture
def con(tmp_path):
    """A working DuckDB file with the contract tables, a figure for `svc` in 2024 and a source down for `svc-down`."""
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "pub" / "impact.duckdb"),
        export_dir=str(tmp_path / "exp"),
        work_dir=str(tmp_path / "work"),
    )
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO yearly_reach (startup_id, year, value, unit, kind, evidence_rank, source, "
            "source_ref, evidence_url, "
            "upper_bound, n_candidates, note, period_start, period_end) VALUES ('svc', 2024, 250000, 'visits', "
            "'visits', 'measured_uses', 'matomo', "
            "'stats.example.org site 12', 'https://svc.example.org/stats', false, 2, "
            "'nb_visits for the calendar year 2024', ?, ?)",
            [date(2024, 1, 1), date(2024, 12, 31)],
        )
        con.execute(
            "INSERT INTO usage_source_status (startup_id, source, source_ref, status, error, "
            "n_observations, n_rejected, "
            "fetched_at) VALUES ('svc-down', 'matomo', 'm site 9', 'error', 'HTTP 503', 0, 0, now())"
        )
        con.execute(
            "CREATE TEMP TABLE keys AS SELECT * FROM (VALUES (2023, 'svc'), (2024, 'svc'), (2024, 'svc-down'), "
            "(2024, 'svc-none')) k(year, startup_id)"
        )
        yield con


def test_one_row_per_key_with_the_evaluation_columns(con):
    sql = criterion_b_sql(con, "keys", CONFIG)
    assert [(c[0], c[1]) for c in con.execute(f"DESCRIBE {sql}").fetchall()] == [
        ("year", "INTEGER"),
        ("startup_id", "VARCHAR"),
        ("criterion", "VARCHAR"),
        ("verdict", "VARCHAR"),
        ("reason", "VARCHAR"),
        ("evidence", "JSON"),
    ]
    rows = con.execute(
        f"SELECT year, startup_id, verdict, evidence->>'value', evidence->>'evidence_url', evidence->>'year' "
        f"FROM ({sql}) ORDER BY year, startup_id"
    ).fetchall()
    assert rows == [
        (2023, "svc", "unknown", None, None, "2023"),
        (2024, "svc", "pass", "250000.0", "https://svc.example.org/stats", "2024"),
        (2024, "svc-down", "unknown", None, None, "2024"),
        (2024, "svc-none", "unknown", None, None, "2024"),
    ]
    # The no-figure evidence is valid JSON with every key, in a fixed order, for json.loads readers too.
    (text,) = con.execute(f"SELECT evidence::VARCHAR FROM ({sql}) WHERE startup_id = 'svc-down'").fetchall()[0]
    assert list(json.loads(text)) == [
        "value",
        "unit",
        "kind",
        "threshold",
        "source",
        "source_ref",
        "evidence_url",
        "evidence_rank",
        "period",
        "upper_bound",
        "year",
        "note",
        "sources",
    ]
    assert json.loads(text)["note"] == "source matomo down: HTTP 503"


def test_runs_twice_on_one_connection_with_the_config_of_each_call(con):
    first = con.execute(
        f"SELECT verdict FROM ({criterion_b_sql(con, 'keys', CONFIG)}) WHERE year = 2024 AND startup_id = 'svc'"
    ).fetchall()
    stricter = criteria_with({"criteria": {"b": {"min_yearly_reach": 300000}}})
    sql = criterion_b_sql(con, "keys", stricter)
    second = con.execute(f"SELECT verdict, reason FROM ({sql}) WHERE year = 2024 AND startup_id = 'svc'").fetchall()
    assert first == [("pass",)]
    assert second == [
        (
            "fail",
            "(b) fails: 250,000 yearly visits in 2024 (matomo stats.example.org site 12) is below the "
            "threshold of 300,000.",
        )
    ]


def test_a_working_file_without_the_usage_tables_gives_unknown(con):
    con.execute("DROP TABLE yearly_reach")
    con.execute("DROP TABLE usage_source_status")
    rows = con.execute(
        f"SELECT DISTINCT verdict, replace(reason, year::VARCHAR, 'Y') FROM ({criterion_b_sql(con, 'keys', CONFIG)})"
    ).fetchall()
    assert rows == [("unknown", "(b) unknown: no usage figure for Y (no usage source yet).")]
