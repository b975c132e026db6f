from __future__ import annotations

from pathlib import Path

import pytest

from impact_pipeline.lib.warehouse import Warehouse

STARTUP_COLUMNS = ("startup_id", "name", "link", "stats_url", "repository", "contact", "accessibility_status")


def make_warehouse(root: Path, startups: list[dict]) -> Warehouse:
    """A real working DuckDB file with the contract tables and the given startups."""
    warehouse = Warehouse(
        duckdb_path=str(root / "pub" / "impact.duckdb"), export_dir=str(root / "exp"), work_dir=str(root / "work")
    )
    with warehouse.connect() as con:
        for s in startups:
            row = {c: s.get(c) for c in STARTUP_COLUMNS}
            row["name"] = row["name"] or row["startup_id"]
            cols = ", ".join(row)
            con.execute(f"INSERT INTO startups ({cols}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))
    return warehouse


@pytest.fixture
def warehouse_factory(tmp_path):
    return lambda startups: make_warehouse(tmp_path, startups)
