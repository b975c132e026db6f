"""One step parses the registry documents for the registry tables and registry_declarations (the latest once)."""

from __future__ import annotations

import dagster as dg
import pytest

from impact_pipeline.defs.registry.assets import registry_raw, registry_tables
from impact_pipeline.defs.registry.resources import RegistrySource
from impact_pipeline.lib.warehouse import Warehouse
from impact_pipeline.settings import SAMPLE_DIR

TABLES = ["startups", "startup_phases", "startup_events", "incubators", "registry_findings"]
DECLARED = "SELECT * FROM registry_declarations ORDER BY ALL"  # a document's sha256 is that of its bytes


def world(tmp_path, name: str) -> dict:
    root = tmp_path / name
    warehouse = Warehouse(
        duckdb_path=str(root / "impact.duckdb"), export_dir=str(root / "exp"), work_dir=str(root / "w")
    )
    registry = RegistrySource(url=str(SAMPLE_DIR / "startups.json"), history=str(SAMPLE_DIR / "history"))
    return {"warehouse": warehouse, "registry": registry}


def materialize(resources, selection):
    return dg.materialize(
        [registry_raw, registry_tables], resources=resources, selection=selection, raise_on_error=False
    )


def rows(resources, sql):
    with resources["warehouse"].connect(read_only=True) as con:
        return con.execute(sql).fetchall()


def test_declarations_are_the_same_whether_the_latest_parse_is_shared_or_not(tmp_path):
    together, alone = world(tmp_path, "together"), world(tmp_path, "alone")
    result = materialize(together, None)
    assert result.success
    assert {
        m.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()
        and [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    } == {"registry_raw", *TABLES, "registry_declarations"}
    # registry_declarations alone parses every document itself, the latest included.
    assert materialize(alone, ["registry_raw", "registry_declarations"]).success
    assert rows(alone, "SELECT count(*) FROM startups") == [(0,)]
    declared = rows(together, DECLARED)
    assert declared == rows(alone, DECLARED)
    n_documents = rows(together, "SELECT count(DISTINCT sha256) FROM registry_raw WHERE n_startups IS NOT NULL")[0][0]
    assert rows(together, "SELECT count(DISTINCT sha256) FROM registry_declarations")[0][0] == n_documents > 1
    # The live document's declarations are those of the startups table parsed from it.
    live = rows(
        together,
        "SELECT startup_id, stats_url, repository, contact, accessibility_status FROM registry_declarations "
        "WHERE sha256 = (SELECT sha256 FROM registry_raw WHERE source_url LIKE '%startups.json' "
        "AND source_url NOT LIKE '%/history/%' AND n_startups IS NOT NULL) ORDER BY ALL",
    )
    assert live == rows(
        together, "SELECT startup_id, stats_url, repository, contact, accessibility_status FROM startups ORDER BY ALL"
    )
    # Then the tables alone: registry_declarations is left as it was.
    assert materialize(alone, ["registry_raw", *TABLES]).success
    assert rows(alone, DECLARED) == declared


@pytest.mark.parametrize("part", [["startups"], ["startups", "startup_phases", "registry_declarations"]])
def test_part_of_the_registry_tables_is_refused_saying_why(tmp_path, part):
    resources = world(tmp_path, "part")
    result = materialize(resources, ["registry_raw", *part])
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "materialize them together" in str(failure.event_specific_data.error)
    assert rows(resources, "SELECT count(*) FROM startups") == [(0,)]
