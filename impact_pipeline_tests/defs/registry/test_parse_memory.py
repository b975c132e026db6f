"""The registry document is parsed whole: its parse gets the memory it needs under a tight DuckDB limit."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from impact_pipeline.defs.registry.parse import parse_memory, parse_registry
from impact_pipeline.settings import SAMPLE_DIR


@pytest.fixture(scope="module")
def document() -> str:
    """The sample registry, its records repeated to about 0.8 MB."""
    doc = json.loads((SAMPLE_DIR / "startups.json").read_text(encoding="utf-8"))
    doc["data"] = [dict(record, id=f"{record['id']}-{i}") for i in range(60) for record in doc["data"]]
    return json.dumps(doc)


def connection(document: str):
    con = duckdb.connect(config={"memory_limit": "16MB", "threads": 1})
    con.execute("CREATE TABLE doc AS SELECT ?::VARCHAR AS document", [document])
    return con


def limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_under_a_tight_limit_the_parse_alone_runs_out_of_memory(document):
    con = connection(document)
    with pytest.raises(duckdb.OutOfMemoryException):
        parse_registry(con, "SELECT document FROM doc", [], source="sample", as_of=date(2026, 1, 1))


def test_the_parse_gets_room_for_the_document_then_the_limit_is_restored(document):
    con = connection(document)
    before = limit(con)
    with parse_memory(con, len(document.encode("utf-8"))):
        assert limit(con) != before
        tables = parse_registry(con, "SELECT document FROM doc", [], source="sample", as_of=date(2026, 1, 1))
    assert tables.row_counts["startups"] == len(json.loads(document)["data"])
    assert limit(con) == before


def test_a_limit_already_large_enough_is_left_alone():
    con = duckdb.connect(config={"memory_limit": "2GB"})
    before = limit(con)
    with parse_memory(con, 1_000):
        assert limit(con) == before
    assert limit(con) == before
