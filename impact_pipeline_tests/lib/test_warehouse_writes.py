"""The one write path: a partition is replaced whole or not at all, and a re-run writes the same rows."""

from __future__ import annotations

import duckdb
import pytest

from impact_pipeline import contract
from impact_pipeline.lib.warehouse import ensure_tables, replace_rows, transaction

TABLE = contract.REPOSITORY_ACTIVITY
IN_YEARS = "year IN (SELECT unnest(?::INTEGER[]))"


@pytest.fixture
def con():
    with duckdb.connect() as connection:  # in memory: the transactions are DuckDB's either way
        ensure_tables(connection)
        yield connection


def rows(year: int, ids: list[str]) -> list[dict]:
    return [{"startup_id": sid, "year": year, "forge": "github", "repo": "r", "repo_url": "u"} for sid in ids]


def stored(con) -> list[tuple]:
    return con.execute(f'SELECT year, startup_id FROM "{TABLE.name}" ORDER BY ALL').fetchall()


def test_a_partition_is_replaced_and_a_rerun_changes_nothing(con):
    replace_rows(con, TABLE, rows(2023, ["a", "b"]) + rows(2024, ["a"]), IN_YEARS, [[2023, 2024]])
    replace_rows(con, TABLE, rows(2024, ["b", "c"]), IN_YEARS, [[2024]])
    replace_rows(con, TABLE, rows(2024, ["b", "c"]), IN_YEARS, [[2024]])
    assert stored(con) == [(2023, "a"), (2023, "b"), (2024, "b"), (2024, "c")]


def test_a_select_or_an_empty_list_replaces_too(con):
    replace_rows(con, TABLE, rows(2024, ["a"]))
    # A query with every column of the table (and more, ignored), e.g. a parse's temp table.
    con.execute(
        f"CREATE TEMP TABLE src AS SELECT * REPLACE (2025 AS year, 'z' AS startup_id), 1 AS extra FROM {TABLE.name}"
    )
    replace_rows(con, TABLE, "SELECT * FROM src", IN_YEARS, [[2025]])
    assert stored(con) == [(2024, "a"), (2025, "z")]
    replace_rows(con, TABLE, [])  # no condition: the whole table
    assert stored(con) == []


def test_a_failed_write_leaves_the_previous_rows(con):
    replace_rows(con, TABLE, rows(2024, ["a"]))
    with pytest.raises(RuntimeError), transaction(con):
        replace_rows(con, TABLE, rows(2024, ["b"]), IN_YEARS, [[2024]])  # joins the outer transaction
        assert stored(con) == [(2024, "b")]
        raise RuntimeError("the step fails after writing")
    assert stored(con) == [(2024, "a")]
    with pytest.raises(duckdb.Error):
        replace_rows(con, TABLE, "SELECT NULL AS nothing", IN_YEARS, [[2024]])
    assert stored(con) == [(2024, "a")]
    replace_rows(con, TABLE, rows(2024, ["c"]))  # the connection is usable afterwards
    assert stored(con) == [(2024, "c")]
