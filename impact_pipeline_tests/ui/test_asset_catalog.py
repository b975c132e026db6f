"""What the data team sees in the Dagster UI: every asset documented, typed and owned; checks, schedule, partitions."""

from __future__ import annotations

import dagster as dg

from impact_pipeline.definitions import defs


def _nodes():
    graph = defs.resolve_asset_graph()
    return graph, {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}


def test_every_asset_has_description_owners_kinds_group_and_column_schema():
    _, nodes = _nodes()
    assert {"registry_raw", "published_outputs", "national_impact_chart", "national_impact_report"} <= set(nodes)
    for name, node in nodes.items():
        assert node.description and node.description.strip(), f"{name}: no description"
        assert node.owners, f"{name}: no owners"
        assert node.kinds, f"{name}: no kinds"
        assert node.group_name and node.group_name != "default", f"{name}: not in a domain group"
        schema = node.metadata.get("dagster/column_schema")
        assert isinstance(schema, dg.TableSchema) and schema.columns, f"{name}: no column schema"
        assert all(c.description for c in schema.columns), f"{name}: a column has no description"


def test_reporting_assets_sit_after_the_publication():
    graph, nodes = _nodes()
    for name in ("national_impact_chart", "national_impact_report"):
        parents = {k.to_user_string() for k in nodes[name].parent_keys}
        assert "published_outputs" in parents, f"{name} must read published data only"
        assert nodes[name].group_name == "impact"


def test_checks_are_attached_to_existing_assets_and_documented():
    graph, nodes = _nodes()
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        assert spec.asset_key.to_user_string() in nodes
        assert spec.description, f"check {check_key.name} on {spec.asset_key.to_user_string()} has no description"


def test_schedule_and_yearly_partitions_are_defined():
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.job_name == "impact_job"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    _, nodes = _nodes()
    partitions = nodes["national_impact"].partitions_def
    keys = partitions.get_partition_keys()
    assert keys[0] == "2016" and all(len(k) == 4 and k.isdigit() for k in keys)
