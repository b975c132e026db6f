"""Long JSON/text columns are stored with zstd, and files written before that are rebuilt without losing a row."""

from __future__ import annotations

import duckdb

from impact_pipeline import contract
from impact_pipeline.lib.warehouse import ensure_tables


def created_as(con, table: str) -> str:
    return con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0]


def test_new_files_store_the_long_columns_with_zstd(tmp_path):
    con = duckdb.connect(str(tmp_path / "new.duckdb"))
    ensure_tables(con)
    for table in (contract.CRITERIA_EVALUATION, contract.NATIONAL_IMPACT):
        declared = [c.name for c in table.columns if c.compression == "zstd"]
        assert declared, table.name
        sql = created_as(con, table.name)
        for name in declared:
            assert f"{name} " in sql.replace('"', "") and "USING COMPRESSION ZSTD" in sql.upper(), (name, sql)


def test_an_older_file_is_rebuilt_with_its_rows_comments_and_views(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    # A file as an earlier version wrote it: same columns, DuckDB's default compression, a few rows.
    for table in contract.ALL_TABLES:
        con.execute(
            f'CREATE TABLE "{table.name}" ({", ".join(f"{chr(34)}{c.name}{chr(34)} {c.type}" for c in table.columns)})'
        )
    con.execute(
        "INSERT INTO criteria_evaluation SELECT 2000 + i % 20, 'svc-' || i, 'abc'[i % 3 + 1], 'pass', "
        "'reason ' || i, json_object('i', i), 'v1' FROM range(5000) r(i)"
    )
    before = con.execute("SELECT * FROM criteria_evaluation ORDER BY ALL").fetchall()
    assert "USING COMPRESSION" not in created_as(con, "criteria_evaluation").upper()
    ensure_tables(con)
    con.close()
    con = duckdb.connect(str(path), read_only=True)
    assert "USING COMPRESSION ZSTD" in created_as(con, "criteria_evaluation").upper()
    assert con.execute("SELECT * FROM criteria_evaluation ORDER BY ALL").fetchall() == before
    comment = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'criteria_evaluation' AND column_name = 'evidence'"
    ).fetchall()[0][0]
    assert comment == next(c.description for c in contract.CRITERIA_EVALUATION.columns if c.name == "evidence")
    assert not con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_rebuild%' ESCAPE '\\'"
    ).fetchall()
    views = {v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert "service_history" in views
    con.close()
