"""The table contract as text: what a reviewer reads in contract.py is what DuckDB and the UI get."""

from __future__ import annotations

import duckdb

from impact_pipeline import contract
from impact_pipeline.lib.warehouse import ensure_tables


def test_a_text_table_gives_types_required_columns_compression_and_long_descriptions():
    table = contract.table(
        "t",
        """
        One row per thing,
        described on two lines.

        id        VARCHAR!       The key.
        document  JSON! zstd     A long document, stored compressed; its description goes on
                                 over two lines.
        note      VARCHAR        Optional.
        """,
        key=("id",),
    )
    assert table.description == "One row per thing, described on two lines."
    assert [(c.name, c.type, c.required, c.compression) for c in table.columns] == [
        ("id", "VARCHAR", True, ""),
        ("document", "JSON", True, "zstd"),
        ("note", "VARCHAR", False, ""),
    ]
    assert table.columns[1].description == (
        "A long document, stored compressed; its description goes on over two lines."
    )
    assert table.key == ("id",)


def test_every_table_and_column_is_described_in_the_file(tmp_path):
    con = duckdb.connect(str(tmp_path / "c.duckdb"))
    ensure_tables(con)
    for table in contract.ALL_TABLES:
        described = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = ?", [table.name]
            ).fetchall()
        )
        assert described == {c.name: c.description for c in table.columns}, table.name
        assert all(c.description and not c.description.endswith(" ") for c in table.columns), table.name
    con.close()
