"""The code location loads the way the UI and `dagster` load it, with the expected shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_validate_with_the_dagster_cli(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


def test_assets_are_grouped_documented_and_typed():
    from impact_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    groups = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        groups.setdefault(node.group_name, set()).add(key.to_user_string())
        assert node.description, f"{key.to_user_string()} has no description"
        assert node.owners, f"{key.to_user_string()} has no owner"
    assert {"registry", "impact"} <= set(groups)
    assert {"startups", "startup_phases", "startup_events", "incubators", "registry_raw"} <= groups["registry"]
    assert {"criteria_evaluation", "national_impact", "national_impact_summary", "published_outputs"} <= groups[
        "impact"
    ]
    spec = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "national_impact"))
    columns = [c.name for c in spec.metadata["dagster/column_schema"].columns]
    assert columns[:4] == ["year", "startup_id", "name", "phase_at_year_end"]


def test_nightly_schedule_targets_the_current_year_in_paris():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    import dagster as dg

    from impact_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.execution_timezone == "Europe/Paris"
    # 02:00 in Paris on Jan 1st is still Dec 31st in UTC: the year is the Paris one.
    when = datetime(2026, 1, 1, 2, 0, tzinfo=ZoneInfo("Europe/Paris"))
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026"
    assert request.job_name in (None, "impact_job")


def test_each_domain_brings_its_gates_and_no_suite_is_left_out():
    from impact_pipeline.definitions import defs
    from impact_pipeline.defs.gates.suites import ALL_SUITES
    from impact_pipeline.defs.quality import gates as quality_gates
    from impact_pipeline.defs.usage import gates as usage_gates

    graph = defs.resolve_asset_graph()
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    suites = {f"{s.table}:{s.name}" for s in (*ALL_SUITES, *usage_gates.SUITES, *quality_gates.SUITES)}
    assert checks == suites
    # The gates of the tables one step writes run in one step, named after it.
    job = defs.resolve_job_def("impact_job")
    assert {"registry_tables_gates", "activity_and_page_checks_gates"} <= {n.name for n in job.graph.node_defs}


def test_the_published_assets_expect_the_nightly_refresh():
    import dagster as dg

    from impact_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    published = {"national_impact", "national_impact_summary", "published_outputs"}
    published |= {"national_impact_chart", "national_impact_report"}
    for key in graph.get_all_asset_keys():
        policy = graph.get(key).freshness_policy
        if key.to_user_string() in published:
            assert isinstance(policy, dg.FreshnessPolicy), key
            assert (policy.deadline_cron, policy.timezone) == ("0 8 * * *", "Europe/Paris")
        else:
            assert policy is None, key


def test_runs_execute_in_one_process_unless_impact_executor_says_multiprocess(monkeypatch):
    import dagster as dg

    from impact_pipeline.definitions import build_definitions
    from impact_pipeline.settings import Settings

    def executor() -> dg.ExecutorDefinition:
        return build_definitions(Settings.from_env()).resolve_job_def("impact_job").executor_def

    monkeypatch.delenv("IMPACT_EXECUTOR", raising=False)
    assert executor() is dg.in_process_executor
    monkeypatch.setenv("IMPACT_EXECUTOR", "multiprocess")
    assert executor() is dg.multi_or_in_process_executor
