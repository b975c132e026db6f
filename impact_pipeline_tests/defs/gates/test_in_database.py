"""The large tables' gates run on GX's SQL engine inside DuckDB, over the gate's own read-only connection."""

from __future__ import annotations

import json

import duckdb

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.gates import suites as S
from impact_pipeline.defs.gates.specs import Suite, in_set, not_null, rule, unique
from impact_pipeline.defs.gates.validate import run_suite
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

CONFIG = load_criteria(DEFAULT_CRITERIA_PATH)


def test_the_large_tables_are_validated_in_the_database():
    large = {s.gate_name for s in S.ALL_SUITES if s.in_database}
    assert large == {
        "criteria_evaluation:contract",
        "national_impact:verdicts",
        "national_impact:criterion_a_evidence",
        "national_impact:criterion_b_evidence",
        "national_impact:criterion_c_evidence",
    }


def test_a_gate_reads_the_working_file_through_its_read_only_connection(tmp_path):
    # The run's connection settings (memory limit, temp folder) and read-only mode: GX opening the file again with
    # other settings, or read-write, would be refused by DuckDB; the frame's table and the rules' Python function
    # (public_evidence_url) exist only in this database instance.
    warehouse = Warehouse(
        duckdb_path=str(tmp_path / "out.duckdb"),
        export_dir=str(tmp_path / "exports"),
        work_dir=str(tmp_path / "work"),
        memory_limit="300MB",
    )
    evidence = json.dumps({"value": 500000, "evidence_url": "http://127.0.0.1/stats"})
    with warehouse.connect() as con:
        con.execute(
            "INSERT INTO criteria_evaluation SELECT 2024, 'svc-' || s, c, 'unknown', 'r', '{}', 'v1' "
            "FROM range(300) b(s), (VALUES ('a'), ('b'), ('c')) v(c)"
        )
        con.execute(
            "UPDATE criteria_evaluation SET verdict = 'pass', evidence = ? "
            "WHERE startup_id = 'svc-7' AND criterion = 'b'",
            [evidence],
        )
    suite = next(s for s in S.ALL_SUITES if s.gate_name == "criteria_evaluation:contract")
    with warehouse.connect(read_only=True) as con:
        outcome = run_suite(con, suite, CONFIG)
        databases = {row[0] for row in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()}
        frames = con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'gate_frames'").fetchall()
    assert [f.spec.label for f in outcome.failures] == ["(b) pass: reach >= 100000 with a public evidence URL"]
    assert outcome.failures[0].rows[0]["startup_id"] == "svc-7" and outcome.n_rows == 900
    assert outcome.result["meta"]["frames_validated"] == 1
    assert frames == [(0,)] and "gate_frames" in databases  # the frame's table is dropped after validation


def test_sql_and_pandas_engines_give_the_same_outcome():
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT i % 500 AS k, (i % 3)::VARCHAR AS grp, CASE WHEN i % 97 = 0 THEN NULL ELSE 'x' END "
        "AS v, i AS position FROM range(1000) r(i)"
    )
    specs = [
        unique(["k", "grp"]),
        not_null("v"),
        in_set("grp", ["0", "1"]),
        rule("position is below 990", "t.position < 990", show=("position",)),
    ]
    pandas = run_suite(con, Suite("t", "same", "a test suite", specs, key=("k",)))
    sql = run_suite(con, Suite("t", "same", "a test suite", specs, key=("k",), in_database=True))
    assert sql.summary() == pandas.summary() and sql.markdown() == pandas.markdown()
    assert [r["result"] for r in sql.result["results"]] == [r["result"] for r in pandas.result["results"]]
