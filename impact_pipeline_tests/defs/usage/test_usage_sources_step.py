"""usage_sources: the configured sources and the stats-page discovery in one step, side by side, each subset working."""

import dagster as dg
import duckdb
import yaml

from impact_pipeline.defs.usage.assets import usage_sources
from impact_pipeline.defs.usage.resources import UsageSources
from impact_pipeline.lib.http_settings import HttpSettings
from impact_pipeline_tests.defs.quality.conftest import make_warehouse
from impact_pipeline_tests.defs.usage.test_discovery import local_page  # references four sources
from impact_pipeline_tests.support.http_server import LocalServer
from impact_pipeline_tests.support.in_flight import InFlight


def _world(tmp_path, stats: LocalServer, pages: LocalServer, flight: InFlight, sources_text: str | None = None):
    for i in range(3):
        stats.add(f"/s{i}.json", flight.route("sources", {"total": 100 + i}))
        pages.add(f"/stats{i}", flight.route("pages", local_page(pages), headers={"Content-Type": "text/html"}))
    startups = [{"startup_id": f"svc{i}", "stats_url": pages.url(f"/stats{i}")} for i in range(3)]
    warehouse = make_warehouse(tmp_path, startups)
    path = tmp_path / "usage_sources.yaml"
    path.write_text(
        sources_text
        if sources_text is not None
        else yaml.safe_dump(
            {
                "first_year": 2022,
                "services": {
                    f"svc{i}": [
                        {
                            "type": "json",
                            "url": stats.url(f"/s{i}.json"),
                            "value_path": "total",
                            "year": 2024,
                            "unit": "uses",
                        }
                    ]
                    for i in range(3)
                },
            }
        ),
        encoding="utf-8",
    )
    usage = UsageSources(sources_path=str(path), discovery=True, http=HttpSettings(allow_private_network=True))
    return warehouse, usage


def _materialize(warehouse, usage, selection=None):
    return dg.materialize(
        [usage_sources], selection=selection, resources={"usage": usage, "warehouse": warehouse}, raise_on_error=False
    )


def _count(warehouse, table: str) -> int:
    con = duckdb.connect(str(warehouse.working_path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def _materialized(result) -> list[str]:
    return sorted(e.asset_key.to_user_string() for e in result.get_asset_materialization_events())


def test_sources_and_discovery_overlap_and_each_subset_works(tmp_path):
    flight = InFlight(delay=0.2)
    with LocalServer() as stats, LocalServer() as pages:
        warehouse, usage = _world(tmp_path, stats, pages, flight)
        both = _materialize(warehouse, usage)
        assert both.success and _materialized(both) == [
            "usage_observations",
            "usage_source_proposals",
            "usage_source_status",
        ]
        # The two sets of requests were in flight at the same time.
        assert frozenset({"sources", "pages"}) in flight.together
        assert _count(warehouse, "usage_observations") == 3 and _count(warehouse, "usage_source_proposals") == 3 * 4

        proposals = _materialize(warehouse, usage, ["usage_source_proposals"])
        assert proposals.success and _materialized(proposals) == ["usage_source_proposals"]
        pair = _materialize(warehouse, usage, ["usage_observations", "usage_source_status"])
        assert pair.success and _materialized(pair) == ["usage_observations", "usage_source_status"]
        # One read of the sources writes both tables: half of it is refused, saying why.
        half = _materialize(warehouse, usage, ["usage_observations"])
        assert not half.success and "materialize them together" in str(half.all_events)


def test_a_broken_sources_file_fails_the_step_and_names_the_file(tmp_path):
    # Both halves read the sources file (discovery marks the sources it already lists as confirmed).
    flight = InFlight(delay=0.05)
    with LocalServer() as stats, LocalServer() as pages:
        warehouse, usage = _world(tmp_path, stats, pages, flight)
        assert _materialize(warehouse, usage).success
        (tmp_path / "usage_sources.yaml").write_text("services: [not, a, mapping", encoding="utf-8")
        result = _materialize(warehouse, usage)
    assert not result.success and _materialized(result) == []
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "usage_sources.yaml: not valid YAML" in str(
        failure.event_specific_data.error.cause or failure.event_specific_data.error
    )
    # Tonight's failure leaves the tables as the last good run wrote them.
    assert _count(warehouse, "usage_observations") == 3 and _count(warehouse, "usage_source_proposals") == 12
