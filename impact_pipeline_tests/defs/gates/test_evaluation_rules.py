"""criteria_evaluation's gate: each evaluated service-year carries the three criteria, whatever the chunking."""

from __future__ import annotations

import duckdb
import pytest

from impact_pipeline.criteria_config import load_criteria
from impact_pipeline.defs.gates import suites as S
from impact_pipeline.defs.gates.validate import run_suite
from impact_pipeline.lib.warehouse import ensure_tables
from impact_pipeline.settings import DEFAULT_CRITERIA_PATH

LABEL = "each evaluated (year, startup) has the three criteria"


@pytest.fixture
def con():
    connection = duckdb.connect()
    ensure_tables(connection)
    # 3,000 services x 2 years x 3 criteria, every verdict 'unknown' (no evidence rule applies).
    connection.execute(
        "INSERT INTO criteria_evaluation SELECT y, 'svc-' || s, c, 'unknown', 'reason', '{}', 'v1' "
        "FROM range(2024, 2026) a(y), range(3000) b(s), (VALUES ('a'), ('b'), ('c')) v(c)"
    )
    yield connection
    connection.close()


def outcome(con, chunk_rows):
    suite = next(s for s in S.ALL_SUITES if s.table == "criteria_evaluation" and s.name == "contract")
    return run_suite(con, suite, load_criteria(DEFAULT_CRITERIA_PATH), chunk_rows=chunk_rows)


@pytest.mark.parametrize("chunk_rows", [2048, 100_000])
def test_complete_service_years_pass(con, chunk_rows):
    result = outcome(con, chunk_rows)
    assert result.passed, result.summary()
    assert result.n_rows == 18_000


@pytest.mark.parametrize("chunk_rows", [2048, 100_000])
def test_a_service_year_missing_a_criterion_blocks_with_its_rows(con, chunk_rows):
    con.execute("DELETE FROM criteria_evaluation WHERE year = 2025 AND startup_id = 'svc-1234' AND criterion = 'b'")
    result = outcome(con, chunk_rows)
    failures = {f.spec.label: f for f in result.failures}
    assert not result.passed and set(failures) == {LABEL}
    assert failures[LABEL].unexpected_count == 2  # the two rows left for that service-year
    assert {(row["year"], row["startup_id"]) for row in failures[LABEL].rows} == {(2025, "svc-1234")}
